// How fast diag's BPF event consumer (backends/bpf/event-buffer.ts) streams events, next to
// bpftrace printing the same events with printf, in one run. Both trace raw_syscalls:sys_enter
// for the getppid() calls of one process making them as fast as one CPU can, and print a line
// "TIME TID" per event into a pipe that this script only counts (a /dev/null that can count, so
// that each side's delivered events are known, not assumed). Per tracer: events delivered, events
// lost (emitted - delivered), events/s (calls / the workload's run time with the tracer attached),
// and the consumer's CPU time per delivered event over that time (its start-up not included).
// Then the same workload untraced, for the cost of tracing in the workload itself.
//
//   node bench/events.mjs [calls]   (root, after npm run build; under flock /tmp/diag-host.lock)
import {spawn, spawnSync} from 'node:child_process'
import {readFileSync, readdirSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

const calls = Number(process.argv[2] ?? 1_000_000)
const workload = fileURLToPath(new URL('../test/workload/diag-workload', import.meta.url))
const consumer = fileURLToPath(new URL('./event-consumer.mjs', import.meta.url))
const GETPPID = {x64: 110, arm64: 173}[process.arch]
const TICK = 100 // USER_HZ: /proc/PID/stat's CPU times are in 1/100 s

/** A process's CPU time so far (utime + stime), in seconds. */
function cpuOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICK
}

/** Counts the lines a child prints to stdout; `text` keeps the first 4 KiB for what it says. */
function countLines(stream) {
  const out = {lines: 0, text: ''}
  stream.on('data', (chunk) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) out.lines++
    if (out.text.length < 4096) out.text += chunk.toString('latin1', 0, Math.min(chunk.length, 4096))
  })
  return out
}

/** diag's consumer (bench/event-consumer.mjs), which measures its own CPU from release to drain. */
async function diag(kind) {
  const child = spawn(process.execPath, [consumer, kind, String(calls), '0', '0', 'print'], {stdio: ['ignore', 'pipe', 'pipe']})
  const printed = countLines(child.stdout)
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const code = await new Promise((resolve) => child.on('exit', resolve))
  await sleep(50)
  if (code !== 0) throw new Error(`event-consumer exited ${code}: ${stderr}`)
  const r = JSON.parse(stderr.trim().split('\n').pop())
  if (r.received !== printed.lines) throw new Error(`printed ${printed.lines} lines of ${r.received} records`)
  return {delivered: printed.lines, lost: r.lost, seconds: r.seconds, cpu: r.cpuSeconds}
}

/** bpftrace, its CPU read from /proc between the workload's release and its last line printed. */
async function bpftrace() {
  const run = spawn('sh', ['-c', `read -r _; exec ${workload} getppid ${calls}`], {stdio: ['pipe', 'ignore', 'inherit']})
  const exited = new Promise((resolve) => run.on('exit', resolve))
  const program = `tracepoint:raw_syscalls:sys_enter /pid == ${run.pid} && args->id == ${GETPPID}/ { printf("%llu %u\\n", nsecs, tid); }`
  const tracer = spawn('bpftrace', ['-e', program], {stdio: ['ignore', 'pipe', 'pipe']})
  const printed = countLines(tracer.stdout)
  let stderr = ''
  tracer.stderr.on('data', (d) => (stderr += d))
  const tracerExited = new Promise((resolve) => tracer.on('exit', resolve))
  try {
    while (!printed.text.includes('Attaching')) {
      if (tracer.exitCode !== null) throw new Error(`bpftrace exited: ${stderr}`)
      await sleep(20)
    }
    const attachLines = printed.lines
    const cpuBefore = cpuOf(tracer.pid)
    const start = performance.now()
    run.stdin.end('\n')
    await exited
    const seconds = (performance.now() - start) / 1000
    // bpftrace prints what is still in its buffers: done once no line came for 300 ms.
    let lines = -1
    while (lines !== printed.lines) {
      lines = printed.lines
      await sleep(300)
    }
    const cpu = cpuOf(tracer.pid) - cpuBefore
    return {delivered: printed.lines - attachLines, lost: calls - (printed.lines - attachLines), seconds, cpu}
  } finally {
    tracer.kill('SIGINT')
    await tracerExited
  }
}

async function untraced() {
  const start = performance.now()
  spawnSync(workload, ['getppid', String(calls)])
  return {seconds: (performance.now() - start) / 1000}
}

const cpus = readdirSync('/sys/devices/system/cpu').filter((n) => /^cpu\d+$/.test(n)).length
console.log(`workload: ${calls} getppid calls from one process; kernel ${spawnSync('uname', ['-r']).stdout.toString().trim()}; ${cpus} CPUs; ${spawnSync('bpftrace', ['--version']).stdout.toString().trim()}`)
const results = {
  'diag, ring buffer': await diag('ring'),
  'diag, perf buffer': await diag('perf'),
  'bpftrace printf (perf buffer)': await bpftrace(),
}
const alone = await untraced()
const base = results['diag, ring buffer']
for (const [name, r] of Object.entries(results)) {
  const rate = calls / r.seconds
  const cpuPerEvent = (r.cpu / Math.max(r.delivered, 1)) * 1e9
  console.log(
    `${name.padEnd(30)} delivered ${String(r.delivered).padStart(8)}  lost ${String(r.lost).padStart(8)}  ` +
      `${(rate / 1000).toFixed(0).padStart(5)}k events/s (${(rate / (calls / base.seconds)).toFixed(2)}x diag ring)  ` +
      `${cpuPerEvent.toFixed(0).padStart(5)} ns CPU/event (${(cpuPerEvent / ((base.cpu / base.delivered) * 1e9)).toFixed(2)}x diag ring)`,
  )
}
console.log(`${'untraced workload'.padEnd(30)} ${(calls / alone.seconds / 1000).toFixed(0)}k calls/s`)
