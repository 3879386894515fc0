// How much diag's BPF syscount slows a syscall-heavy workload, next to two peers on the same
// workload in one interleaved run: bpftrace counting the same tracepoint by syscall id, and
// `perf stat` counting raw_syscalls:sys_enter with one counter (the kernel's own cost of counting,
// with no per-syscall split). diag runs on each of its BPF attach points: the BTF-typed tracepoint
// (tp_btf, what it picks where the kernel has BTF), the raw tracepoint, and the classic one, as
// bpftrace. Usage: node bench/syscount.mjs [calls] [runs]   (root; after npm run build)
import {spawn, spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {withTracefsMounted} from './tracefs.mjs'

const calls = Number(process.argv[2] ?? 2_000_000)
const runs = Number(process.argv[3] ?? 5)
const workload = fileURLToPath(new URL('../test/workload/diag-workload', import.meta.url))
const diag = fileURLToPath(new URL('../bin/run.js', import.meta.url))

// Each says when it is attached (`ready`) and, at its end, how many getppid calls it saw (`seen`).
const byId = /(getppid\s+|@\[110\]: )(\d+)/ // diag's table row, bpftrace's map (getppid is 110 on x86_64)
const diagOn = (candidate) => ({command: process.execPath, args: [diag, 'syscount', '--backend', candidate], ready: 'Hit Ctrl-C', seen: byId})
const TRACERS = {
  'diag syscount, tp_btf': diagOn('bpf-tp-btf'),
  'diag syscount, raw tracepoint': diagOn('bpf-raw-tracepoint'),
  'diag syscount, tracepoint': diagOn('bpf-tracepoint'),
  bpftrace: {command: 'bpftrace', args: ['-e', 'tracepoint:raw_syscalls:sys_enter { @[args->id] = count(); }'], ready: 'Attaching', seen: byId},
  // perf stat runs its command once its counters are enabled: that command says when.
  'perf stat (one counter)': {
    command: 'perf',
    args: ['stat', '-a', '-e', 'raw_syscalls:sys_enter', '--', 'sh', '-c', 'echo perf-counting; exec sleep 1000'],
    ready: 'perf-counting',
    seen: /([\d,]+)\s+raw_syscalls:sys_enter/,
  },
}
const PEERS = ['bpftrace', 'perf stat (one counter)']

function timeWorkload() {
  const start = process.hrtime.bigint()
  const result = spawnSync(workload, ['getppid', String(calls)])
  if (result.status !== 0) throw new Error(`workload failed: ${result.stderr}`)
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** Starts a tracer, waits until it says it is attached, times the workload, stops it. */
async function underTracer({command, args, ready, seen}) {
  // Its own process group, so that SIGINT reaches perf stat's command as it would from a terminal.
  const tracer = spawn(command, args, {stdio: ['ignore', 'pipe', 'pipe'], detached: true})
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
  process.kill(-tracer.pid, 'SIGINT')
  await exited
  // Each must have seen the workload's calls.
  if (!seen.test(output)) throw new Error(`${command} did not count the workload's calls:\n${output.slice(-500)}`)
  return ms
}

await withTracefsMounted(async () => {
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
    console.log(`${name.padEnd(32)} median ${median(values).toFixed(0).padStart(6)} ms  slowdown ${slowdown[name].toFixed(2)}x`)
  }
  // Overhead is the time tracing adds; a ratio below 1 means diag adds less than the peer.
  for (const name of Object.keys(TRACERS).filter((n) => n.startsWith('diag'))) {
    const ratios = PEERS.map((peer) => `${((slowdown[name] - 1) / (slowdown[peer] - 1)).toFixed(2)} of ${peer}'s`)
    console.log(`${name}: overhead ${ratios.join(', ')}`)
  }
})
