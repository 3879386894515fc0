// How fast diag's event-stream reader (the binary per-CPU trace_pipe_raw, decoded in Node) reads, next to
// `cat trace_pipe > /dev/null` (the kernel formatting text), in one run: each reads raw_syscalls:sys_enter of one process making getppid calls as
// fast as one CPU can (faster than any of them reads), in a private instance. Per reader: events
// read per second of the run, CPU time per event read, and what the kernel overwrote before it was
// read (the instance's per_cpu/cpuN/stats). (Debian 12's trace-cmd 3.1.6 is not a peer here: on
// a kernel that refuses ftrace_enabled it exits, or with -d segfaults leaving its instance behind.) Usage: node bench/stream.mjs [calls]   (root; after npm run build)
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

const calls = Number(process.argv[2] ?? 2_000_000)
const workload = fileURLToPath(new URL('../test/workload/diag-workload', import.meta.url))
const diag = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const TRACING = '/sys/kernel/tracing'
// Named as diag names what it makes, so that `diag reset` removes it should this script be killed.
const INSTANCE = `diag-${process.pid}-bench`

/** The workload, held until `release()`: a shell waiting on its stdin, then exec. */
function gatedWorkload(n = calls) {
  const child = spawn('sh', ['-c', `read -r _; exec ${workload} getppid ${n}`], {stdio: ['pipe', 'ignore', 'inherit']})
  const exited = new Promise((resolve) => child.on('exit', resolve))
  return {pid: child.pid, exited, release: () => child.stdin.end('\n')}
}

/** A command under GNU time in its own process group; resolves to its CPU seconds. */
function timed(command, args, options = {}) {
  const out = `/tmp/${INSTANCE}-time`
  const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', out, command, ...args], {detached: true, stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'], ...options.spawn})
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const done = new Promise((resolve) => child.on('exit', resolve)).then((code) => {
    const [user, sys] = readFileSync(out, 'utf8').trim().split('\n').pop().split(' ').map(Number)
    rmSync(out, {force: true})
    return {code, cpu: user + sys, stderr}
  })
  return {child, done, signal: (s) => process.kill(-child.pid, s), stderr: () => stderr}
}

function ringStats(dir) {
  const total = {read: 0, overrun: 0, entries: 0}
  for (const cpu of readdirSync(`${dir}/per_cpu`)) {
    const text = readFileSync(`${dir}/per_cpu/${cpu}/stats`, 'utf8')
    const field = (name) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? 0)
    total.read += field('read events')
    total.overrun += field('overrun') + field('commit overrun') + field('dropped events')
    total.entries += field('entries')
  }
  return total
}

/** cat (or any command reading trace_pipe) on an instance set up here as diag sets up its own. */
async function catReader() {
  const dir = `${TRACING}/instances/${INSTANCE}`
  mkdirSync(dir)
  try {
    writeFileSync(`${dir}/buffer_size_kb`, '8192')
    const run = gatedWorkload()
    writeFileSync(`${dir}/set_event_pid`, String(run.pid))
    writeFileSync(`${dir}/events/raw_syscalls/sys_enter/enable`, '1')
    const reader = timed('sh', ['-c', `exec cat ${dir}/trace_pipe > /dev/null`])
    const start = performance.now()
    run.release()
    await run.exited
    // Recording off: trace_pipe then ends once it has given everything.
    writeFileSync(`${dir}/tracing_on`, '0')
    const timeout = setTimeout(() => reader.signal('SIGKILL'), 30_000)
    const {cpu} = await reader.done
    clearTimeout(timeout)
    const seconds = (performance.now() - start) / 1000
    const stats = ringStats(dir)
    writeFileSync(`${dir}/events/raw_syscalls/sys_enter/enable`, '0')
    return {read: stats.read, lost: stats.overrun + stats.entries, seconds, cpu}
  } finally {
    rmdirSync(dir)
  }
}

async function diagReader(workloadCalls = calls) {
  const run = gatedWorkload(workloadCalls)
  const reader = timed(process.execPath, [diag, 'syscount', '--backend', 'ftrace-stream', '--pid', String(run.pid)], {stdout: 'pipe'})
  let text = ''
  reader.child.stdout.on('data', (d) => (text += d))
  // The ready line is on stderr; the counts on stdout.
  const deadline = performance.now() + 30_000
  while (!reader.stderr().includes('Hit Ctrl-C')) {
    if (reader.child.exitCode !== null) throw new Error(`diag exited: ${reader.stderr()}`)
    if (performance.now() > deadline) {
      reader.signal('SIGINT')
      throw new Error(`diag did not start tracing within 30 s: ${reader.stderr()}`)
    }
    await sleep(20)
  }
  const start = performance.now()
  run.release()
  await run.exited
  reader.signal('SIGINT')
  const {cpu, code} = await reader.done
  const seconds = (performance.now() - start) / 1000
  if (code !== 0) throw new Error(`diag exited ${code}: ${reader.stderr()}`)
  const read = [...text.matchAll(/^\w+\s+(\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
  const lost = Number(/warning: (\d+) events were lost/.exec(text)?.[1] ?? 0)
  return {read, lost, seconds, cpu}
}

let mounted = false
if (!existsSync(`${TRACING}/events`)) {
  mkdirSync(TRACING, {recursive: true})
  mounted = spawnSync('mount', ['-t', 'tracefs', 'nodev', TRACING]).status === 0
}
try {
  const readers = {'cat trace_pipe > /dev/null': catReader, 'diag syscount -b ftrace-stream (raw)': diagReader}
  console.log(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
  console.log(`workload: ${calls} getppid calls from one process; kernel ${spawnSync('uname', ['-r']).stdout.toString().trim()}; ${readdirSync('/sys/devices/system/cpu').filter((n) => /^cpu\d+$/.test(n)).length} CPUs`)
  // diag's own start and stop (node, probing, setting up) costs CPU whatever it reads: measured
  // on a run of 1 call and taken off, so that CPU per event is the reading's.
  const fixedCpu = (await diagReader(1)).cpu
  const results = {}
  for (const [name, reader] of Object.entries(readers)) {
    const r = await reader()
    if (name.startsWith('diag')) r.cpu -= fixedCpu
    results[name] = {...r, rate: r.read / r.seconds, cpuPerEvent: (r.cpu / r.read) * 1e9}
  }
  const base = results['cat trace_pipe > /dev/null']
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `${name.padEnd(38)} read ${String(r.read).padStart(8)}  lost ${String(r.lost).padStart(8)}  ` +
        `${(r.rate / 1000).toFixed(0).padStart(5)}k events/s (${(r.rate / base.rate).toFixed(2)}x cat)  ` +
        `${r.cpuPerEvent.toFixed(0).padStart(5)} ns CPU/event (${(r.cpuPerEvent / base.cpuPerEvent).toFixed(2)}x cat)  ` +
        `read + lost = ${r.read + r.lost}`,
    )
  }
} finally {
  if (mounted) spawnSync('umount', [TRACING])
}
