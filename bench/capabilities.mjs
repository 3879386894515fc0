// How long diag takes to start: `diag capabilities --json` next to `bpftool feature probe` (its
// closest peer: it probes BPF program, map and helper support), and a tool's time from start to
// its ready line next to bpftrace's time to "Attaching", all interleaved in one run.
// Usage: [DIAG_BEFORE=/other/build/bin/run.js] node bench/capabilities.mjs [runs]   (root; build first with npm run build)
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {diagEnv, hostLine, loadAverage, median, timeCommand} from './measure.mjs'
import {withTracefsMounted} from './tracefs.mjs'

const runs = Number(process.argv[2] ?? 15)
const diag = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const node = process.execPath

// diag is timed without NODE_EXTRA_CA_CERTS (diagEnv), and --version once more with it when it is
// set, to show what it costs.
const withCaCerts = process.env.NODE_EXTRA_CA_CERTS

// DIAG_BEFORE=/other/diag/bin/run.js adds that build's rows, interleaved with these, to compare a
// change in one run; it keeps its probe cache apart (DIAG_CACHE_DIR) so that neither evicts the other's.
const before = process.env.DIAG_BEFORE
const beforeEnv = {...diagEnv, DIAG_CACHE_DIR: `${process.env.DIAG_CACHE_DIR ?? '/run/diag'}-bench-before`}

// Whole commands, timed to their exit.
const commands = {
  'diag --version (node and oclif alone)': [node, [diag, '--version'], diagEnv],
  ...(withCaCerts ? {'diag --version, with NODE_EXTRA_CA_CERTS': [node, [diag, '--version']]} : {}),
  'diag capabilities --json (cached probes)': [node, [diag, 'capabilities', '--json'], diagEnv],
  'diag capabilities --json --refresh': [node, [diag, 'capabilities', '--json', '--refresh'], diagEnv],
  'diag capabilities --json --host-root /': [node, [diag, 'capabilities', '--json', '--host-root', '/'], diagEnv],
  'bpftool feature probe': ['bpftool', ['feature', 'probe']],
  ...(before
    ? {
        'before: diag capabilities --json (cached probes)': [node, [before, 'capabilities', '--json'], beforeEnv],
        'before: diag capabilities --json --refresh': [node, [before, 'capabilities', '--json', '--refresh'], beforeEnv],
      }
    : {}),
}

// Tracers, timed from start to the line that says they are attached, then stopped. bpftrace finds
// tracepoints only where tracefs is usually mounted: it is mounted for bpftrace's runs alone, so
// that diag is timed as it starts on this host (mounting tracefs privately when it is not mounted).
const tracers = {
  'diag syscount: start to ready line': [node, [diag, 'syscount'], 'Hit Ctrl-C', undefined, diagEnv],
  'diag syscount --no-cache: start to ready line': [node, [diag, 'syscount', '--no-cache'], 'Hit Ctrl-C', undefined, diagEnv],
  'bpftrace: start to "Attaching"': ['bpftrace', ['-e', 'tracepoint:raw_syscalls:sys_enter { @[args->id] = count(); }'], 'Attaching', 'tracefs'],
  ...(before
    ? {
        'before: diag syscount: start to ready line': [node, [before, 'syscount'], 'Hit Ctrl-C', undefined, beforeEnv],
        'before: diag syscount --no-cache: start to ready line': [node, [before, 'syscount', '--no-cache'], 'Hit Ctrl-C', undefined, beforeEnv],
      }
    : {}),
}

const time = ([command, args, env]) => timeCommand(command, args, {env})

async function timeToReady([command, args, ready, needs, env]) {
  if (needs === 'tracefs') return withTracefsMounted(() => timeToReady([command, args, ready, undefined, env]))
  const start = process.hrtime.bigint()
  const tracer = spawn(command, args, {stdio: ['ignore', 'pipe', 'pipe'], env})
  let output = ''
  const exited = new Promise((resolve) => tracer.on('exit', resolve))
  const ms = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk
      if (output.includes(ready)) resolve(Number(process.hrtime.bigint() - start) / 1e6)
    }
    tracer.stdout.on('data', onData)
    tracer.stderr.on('data', onData)
    tracer.on('exit', (code) => reject(new Error(`${command} exited (${code}) before it was ready: ${output}`)))
    setTimeout(() => {
      tracer.kill('SIGKILL')
      reject(new Error(`${command} was not ready within 30 s: ${output}`))
    }, 30_000).unref()
  })
  tracer.kill('SIGINT')
  await exited
  return ms
}

// Where tracefs is mounted, no diag run mounts it privately: the runs below then do not time that.
const tracefsMounted = existsSync('/sys/kernel/tracing/events')
const startedWith = hostLine()
const samples = Object.fromEntries([...Object.keys(commands), ...Object.keys(tracers)].map((name) => [name, []]))
for (let i = 0; i < runs; i++) {
  for (const [name, command] of Object.entries(commands)) samples[name].push(time(command))
  for (const [name, tracer] of Object.entries(tracers)) samples[name].push(await timeToReady(tracer))
}

const peers = {bpftool: median(samples['bpftool feature probe']), bpftrace: median(samples['bpftrace: start to "Attaching"'])}
console.log(`runs: ${runs} each, interleaved; at the start: ${startedWith}; load average at the end ${loadAverage()}`)
console.log(`tracefs ${tracefsMounted ? 'mounted at /sys/kernel/tracing when the runs began' : 'not mounted when the runs began: diag mounted it privately in its runs'}`)
for (const [name, values] of Object.entries(samples)) {
  const m = median(values)
  const peer = name in commands ? 'bpftool' : 'bpftrace'
  console.log(`${name.padEnd(48)} median ${m.toFixed(0).padStart(5)} ms  min ${Math.min(...values).toFixed(0).padStart(5)} ms  ratio to ${peer} ${(m / peers[peer]).toFixed(2)}`)
}
