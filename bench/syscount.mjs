// How much diag's BPF syscount slows a syscall-heavy workload, next to bpftrace counting the same
// tracepoint (raw_syscalls:sys_enter, by syscall id, whole system) on the same workload, in one
// interleaved run. diag runs twice: on the BTF-typed tracepoint (tp_btf, what it picks where the
// kernel has BTF) and on the classic one, as bpftrace does. Usage: node bench/syscount.mjs [calls] [runs]   (root; after npm run build)
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const calls = Number(process.argv[2] ?? 2_000_000)
const runs = Number(process.argv[3] ?? 5)
const workload = fileURLToPath(new URL('../test/workload/diag-workload', import.meta.url))
const diag = fileURLToPath(new URL('../bin/run.js', import.meta.url))

const TRACERS = {
  'diag syscount, tp_btf': {command: process.execPath, args: [diag, 'syscount', '--backend', 'bpf-tp-btf'], ready: 'Hit Ctrl-C'},
  'diag syscount, tracepoint': {command: process.execPath, args: [diag, 'syscount', '--backend', 'bpf-tracepoint'], ready: 'Hit Ctrl-C'},
  bpftrace: {command: 'bpftrace', args: ['-e', 'tracepoint:raw_syscalls:sys_enter { @[args->id] = count(); }'], ready: 'Attaching'},
}

function timeWorkload() {
  const start = process.hrtime.bigint()
  const result = spawnSync(workload, ['getppid', String(calls)])
  if (result.status !== 0) throw new Error(`workload failed: ${result.stderr}`)
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** Starts a tracer, waits until it says it is attached, times the workload, stops it. */
async function underTracer({command, args, ready}) {
  const tracer = spawn(command, args, {stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk
      if (output.includes(ready)) resolve()
    }
    tracer.stdout.on('data', onData)
    tracer.stderr.on('data', onData)
    tracer.on('exit', (code) => reject(new Error(`${command} exited (${code}) before attaching: ${output}`)))
  })
  const ms = timeWorkload()
  const exited = new Promise((resolve) => tracer.on('exit', resolve))
  tracer.kill('SIGINT')
  await exited
  // Both must have seen the workload's calls (getppid is syscall 110 on x86_64).
  if (!new RegExp(`(getppid\\s+|@\\[110\\]: )(\\d+)`).test(output)) throw new Error(`${command} did not count getppid:\n${output.slice(-500)}`)
  return ms
}

// bpftrace finds tracepoints only where tracefs is usually mounted.
let mounted = false
if (!existsSync('/sys/kernel/tracing/events')) {
  mkdirSync('/sys/kernel/tracing', {recursive: true})
  mounted = spawnSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']).status === 0
}
try {
  const samples = {baseline: [], ...Object.fromEntries(Object.keys(TRACERS).map((name) => [name, []]))}
  for (let i = 0; i < runs; i++) {
    samples.baseline.push(timeWorkload())
    for (const [name, tracer] of Object.entries(TRACERS)) samples[name].push(await underTracer(tracer))
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
  const base = median(samples.baseline)
  console.log(`workload: ${calls} getppid calls; ${runs} runs each, interleaved; kernel ${spawnSync('uname', ['-r']).stdout.toString().trim()}`)
  const slowdown = {}
  for (const [name, values] of Object.entries(samples)) {
    slowdown[name] = median(values) / base
    console.log(`${name.padEnd(30)} median ${median(values).toFixed(0).padStart(6)} ms  slowdown ${slowdown[name].toFixed(2)}x`)
  }
  for (const name of Object.keys(TRACERS).filter((n) => n.startsWith('diag'))) {
    const ratio = slowdown[name] / slowdown.bpftrace
    console.log(`${name}: slowdown relative to bpftrace's ${ratio.toFixed(2)} (below 1 is better than bpftrace)`)
  }
} finally {
  if (mounted) spawnSync('umount', ['/sys/kernel/tracing'])
}
