// Peak memory (resident set) of diag while it traces a busy system, next to bpftrace and perf stat on
// the same workload: a process making getppid calls without pause for the whole run, counted
// system-wide by syscall. Each tracer runs for a short and a long duration, so that memory that grows
// with the run's length shows. Peak RSS is GNU time's %M: the tracer's own process (diag's node,
// bpftrace, perf), not the workload's.
// Usage: node bench/memory.mjs [short seconds] [long seconds]   (root; after npm run build)
import {spawn} from 'node:child_process'
import {readFileSync, rmSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {withTracefsMounted} from './tracefs.mjs'

const short = Number(process.argv[2] ?? 5)
const long = Number(process.argv[3] ?? 30)
const workload = fileURLToPath(new URL('../test/workload/diag-workload', import.meta.url))
const diag = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const node = process.execPath

const tracers = {
  'diag syscount (BPF, bpf-tp-btf)': (d) => [node, [diag, 'syscount', '-q', '-d', String(d)]],
  'diag syscount -b ftrace-stream': (d) => [node, [diag, 'syscount', '-q', '-b', 'ftrace-stream', '-d', String(d)]],
  'bpftrace': (d) => ['bpftrace', ['-e', `tracepoint:raw_syscalls:sys_enter { @[args->id] = count(); } interval:s:${d} { exit(); }`], 'tracefs'],
  'perf stat -e raw_syscalls:sys_enter -a (one counter)': (d) => ['perf', ['stat', '-e', 'raw_syscalls:sys_enter', '-a', '--', 'sleep', String(d)], 'tracefs'],
}

/** A workload that keeps one CPU making syscalls until stopped. */
function busy() {
  const child = spawn('sh', ['-c', `while :; do ${workload} getppid 10000000; done`], {stdio: 'ignore', detached: true})
  return () => process.kill(-child.pid, 'SIGKILL')
}

/** Runs a command under GNU time; resolves to its peak RSS in MiB. */
async function peakRss([command, args, needs]) {
  if (needs === 'tracefs') return withTracefsMounted(() => peakRss([command, args]))
  const out = `/tmp/diag-bench-memory-${process.pid}`
  const child = spawn('/usr/bin/time', ['-f', '%M', '-o', out, command, ...args], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const code = await new Promise((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`)
  const kib = Number(readFileSync(out, 'utf8').trim().split('\n').pop())
  rmSync(out, {force: true})
  return kib / 1024
}

const stop = busy()
try {
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()
  console.log(`workload: one process making getppid calls without pause; kernel ${kernel}; runs of ${short} s and ${long} s`)
  console.log(`diag --version (Node.js and oclif alone): ${(await peakRss([node, [diag, '--version']])).toFixed(1)} MiB`)
  console.log(`${'tracer'.padEnd(56)} ${`${short} s`.padStart(10)} ${`${long} s`.padStart(10)}`)
  for (const [name, command] of Object.entries(tracers)) {
    const a = await peakRss(command(short))
    const b = await peakRss(command(long))
    console.log(`${name.padEnd(56)} ${`${a.toFixed(1)} MiB`.padStart(10)} ${`${b.toFixed(1)} MiB`.padStart(10)}`)
  }
} finally {
  stop()
}
