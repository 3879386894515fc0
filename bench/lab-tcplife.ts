// What following TCP sessions costs a connection-rate workload: in one boot of the lab's debian-6.1
// (kprobes and BTF, which this host lacks for bpftrace's tcplife.bt), a loopback workload of short
// sessions (test/workload/diag-tcp: each connects, sends a few bytes, reads the server's few bytes
// back, closes) timed alone, under `diag tcplife` (the backend it picks there) and under bpftrace
// running Debian's /usr/sbin/tcplife.bt (a kprobe on tcp_set_state), interleaved, as slowdowns and
// as extra microseconds per connection. Both tracers print their text rows into a pipe that only
// counts them, so that the bench also checks each saw every session once (the client's and the
// server's side of each: two rows a connection); it exits 1 when one did not, after its table.
// bpftrace, its libraries (LLVM and clang's among them) and the libc and kernel headers its script
// includes go into this boot's image only.
//
// Usage (after npm run build; no root needed; one boot, some minutes under emulation):
//   npx vite-node bench/lab-tcplife.ts [connections] [rounds]
import {existsSync, readdirSync} from 'node:fs'

import {LAB_KERNELS, bootLab, labUnavailable} from '../test/lab/lab.js'

const connections = Number(process.argv[2] ?? 5000)
const rounds = Number(process.argv[3] ?? 3)
// Bytes each way per session: a request and its answer, a segment each.
const SEND = 100
const REPLY = 100
const BPFTRACE = '/usr/bin/bpftrace'
const SCRIPT = '/usr/sbin/tcplife.bt'

const kernel = LAB_KERNELS['debian-6.1']
if (!kernel) throw new Error('no debian-6.1 in the lab (DIAG_LAB_KERNELS leaves it out?)')
const missing = labUnavailable(kernel)
if (missing) throw new Error(`the lab cannot run: ${missing}`)
for (const file of [BPFTRACE, SCRIPT]) if (!existsSync(file)) throw new Error(`${file} is not installed (Debian's bpftrace package)`)

// tcplife.bt includes <sys/socket.h> when the kernel has BTF (for AF_INET): glibc's headers and the
// kernel's user headers they include. bpftrace's clang finds the multiarch folder by itself.
const HEADERS = ['/usr/include/x86_64-linux-gnu', '/usr/include/linux', '/usr/include/asm-generic', ...readdirSync('/usr/include').filter((f) => f.endsWith('.h')).map((f) => `/usr/include/${f}`)]

// A server per case, on a port of the kernel's choosing; its sessions' rows are told apart by it.
const SERVER = [
  `diag-tcp server 127.0.0.1 ${REPLY} > /tmp/server & server=$!`,
  'for i in $(seq 100); do grep -q port /tmp/server && break; sleep 0.1; done',
  "port=$(cut -d' ' -f2 /tmp/server)",
]
// Seconds the client's sessions take, from /proc/uptime (10 ms steps; the workload runs for seconds).
const TIMED = [
  "a=$(cut -d' ' -f1 /proc/uptime)",
  `diag-tcp client 127.0.0.1 $port ${connections} ${SEND} > /tmp/client`,
  "b=$(cut -d' ' -f1 /proc/uptime)",
  `grep -q "^sessions ${connections} " /tmp/client || { echo "the client did not finish its sessions" >&2; tail -3 /tmp/client >&2; exit 1; }`,
  'echo "seconds $(echo "$a $b" | awk \'{printf "%.2f", $2 - $1}\')"',
]
// Counts a tracer's rows of this server's sessions: the client's side has the server's port as its
// remote port, the server's side as its local port (both tools print PID COMM LADDR LPORT RADDR RPORT,
// diag after its TIME, HH:MM:SS). A client port may carry several sessions (loopback reuses ports in
// TIME_WAIT), but as many on each side: a port whose sides differ is printed, a row of it.
// bpftrace's "Attaching" line is on its stdout: the counter marks it in a file.
const COUNT_ROWS = `
/^Attaching/ { print > "/tmp/attached"; fflush() }
{ t = $1 ~ /^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/ }
$(6 + t) == p { c++; client[$(4 + t)]++; line[$(4 + t)] = $0 }
$(4 + t) == p { s++; server[$(6 + t)]++; line[$(6 + t)] = $0 }
END {
  print "rows", c + 0, s + 0
  for (port in line) if (client[port] + 0 != server[port] + 0 && n++ < 10) print "odd", client[port] + 0, "client and", server[port] + 0, "server rows:", line[port]
}`
const COUNTER = `awk -v p=$port '${COUNT_ROWS}' < /tmp/rows-pipe > /tmp/rows & counter=$!`

/** The workload under a tracer: started, attached (its ready line), timed, stopped, its rows counted. */
function under(tracer: string, readyFile: string, readyPattern: string): string {
  return [
    ...SERVER,
    'rm -f /tmp/rows-pipe /tmp/attached; mkfifo /tmp/rows-pipe',
    COUNTER,
    `${tracer} > /tmp/rows-pipe 2> /tmp/tracer-err & tracer=$!`,
    `for i in $(seq 400); do grep -q ${JSON.stringify(readyPattern)} ${readyFile} 2>/dev/null && break; kill -0 $tracer 2>/dev/null || break; sleep 0.5; done`,
    `grep -q ${JSON.stringify(readyPattern)} ${readyFile} 2>/dev/null || { echo "the tracer did not attach" >&2; cat /tmp/tracer-err >&2; kill -9 $tracer $server; exit 1; }`,
    ...TIMED,
    // The server's side closes on the client's last ACK: give the last rows a moment.
    'sleep 1',
    'kill -INT $tracer',
    'for i in $(seq 120); do kill -0 $tracer 2>/dev/null || break; sleep 0.5; done',
    'kill -0 $tracer 2>/dev/null && { echo "the tracer did not stop on SIGINT" >&2; kill -9 $tracer; }',
    'wait $tracer; wait $counter; kill $server',
    'cat /tmp/rows',
    'grep -m1 "^Tracing" /tmp/tracer-err || true',
  ].join('\n')
}

const SETUPS: Record<string, string> = {
  'no tracing': [...SERVER, ...TIMED, 'kill $server'].join('\n'),
  'diag tcplife': under('diag tcplife', '/tmp/tracer-err', 'Hit Ctrl-C'),
  // Its own memlock limit: bpftrace asks for one before loading (6.1 charges BPF memory to the cgroup).
  'bpftrace tcplife.bt': under(`sh -c 'ulimit -l unlimited; exec bpftrace ${SCRIPT}'`, '/tmp/attached', 'Attaching'),
}

// tracefs where bpftrace looks for what it may kprobe (diag mounts it itself when it needs it).
const setup = {id: 'setup', command: 'mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing; bpftrace --version'}
const cases = Array.from({length: rounds}, (_, round) =>
  Object.entries(SETUPS).map(([name, command], i) => ({id: `${round}-${i}`, command, name})),
).flat()
const boot = await bootLab(kernel, [setup, ...cases], {
  timeoutMs: 3_600_000,
  // The base image holds node, diag and perf; bpftrace is this bench's alone.
  hostFiles: {programs: [BPFTRACE], paths: [SCRIPT, ...HEADERS]},
})
const ready = boot.results.get('setup')!
if (ready.exitCode !== 0) throw new Error(`setting up failed: ${ready.stderr}`)

const seconds = new Map<string, number[]>()
const rowsSeen = new Map<string, string[]>()
const odd: string[] = []
const backends = new Set<string>()
for (const c of cases) {
  const result = boot.results.get(c.id)
  if (!result) throw new Error(`${c.name} (case ${c.id}) did not run`)
  if (result.exitCode !== 0) throw new Error(`${c.name} failed (exit ${result.exitCode}): ${result.stdout}\n${result.stderr}`)
  const time = /^seconds (\S+)$/m.exec(result.stdout)
  if (!time) throw new Error(`${c.name}: no time in ${JSON.stringify(result.stdout)}`)
  seconds.set(c.name, [...(seconds.get(c.name) ?? []), Number(time[1])])
  if (c.name === 'no tracing') continue
  // Every session has a row on each side: the client's and the server's.
  const rows = /^rows (\d+) (\d+)$/m.exec(result.stdout)
  if (!rows) throw new Error(`${c.name}: no rows counted in ${JSON.stringify(result.stdout)}\n${result.stderr}`)
  rowsSeen.set(c.name, [...(rowsSeen.get(c.name) ?? []), `${rows[1]}/${rows[2]}`])
  for (const m of result.stdout.matchAll(/^odd (.*)$/gm)) odd.push(`${c.name}, round ${c.id.split('-')[0]}: ${m[1]}`)
  const backend = /^Tracing \S+ with (\S+ \(\w+\))/m.exec(result.stdout)?.[1]
  if (backend) backends.add(backend)
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const base = median(seconds.get('no tracing')!)
const extraMicros = (name: string) => ((median(seconds.get(name)!) - base) / connections) * 1e6
const bpftraceExtra = extraMicros('bpftrace tcplife.bt')
const names: Record<string, string> = {
  'no tracing': 'no tracing',
  'diag tcplife': `\`diag tcplife\`, ${[...backends].map((b) => `\`${b}\``).join(', ')}`,
  'bpftrace tcplife.bt': `\`bpftrace ${SCRIPT}\` (kprobe on tcp_set_state)`,
}
console.log(`debian-6.1 (${boot.release}) under qemu, ${ready.stdout.trim()}: ${connections} loopback connections (${SEND} bytes out, ${REPLY} back), ${rounds} interleaved rounds, medians`)
console.log(`| debian-6.1 | workload time | slowdown | extra per connection | ratio to bpftrace | rows, client/server side (${connections} each expected), each round |`)
console.log('| --- | --- | --- | --- | --- | --- |')
for (const name of Object.keys(SETUPS)) {
  const time = median(seconds.get(name)!)
  const traced = name !== 'no tracing'
  const extra = traced ? `${extraMicros(name).toFixed(0)} µs` : ''
  const ratio = traced ? (extraMicros(name) / bpftraceExtra).toFixed(2) : ''
  console.log(`| ${names[name]} | ${time.toFixed(2)} s | ${(time / base).toFixed(2)}x | ${extra} | ${ratio} | ${(rowsSeen.get(name) ?? []).join(', ')} |`)
}
console.log(`all rounds (s): ${[...seconds].map(([name, values]) => `${name} ${values.join(' ')}`).join('; ')}`)
for (const line of odd) console.log(`odd row: ${line}`)
const missed = [...rowsSeen].filter(([, counts]) => counts.some((count) => count !== `${connections}/${connections}`))
if (missed.length > 0) {
  console.log(`not every session seen exactly once: ${missed.map(([name]) => name).join(', ')}`)
  process.exitCode = 1
}
