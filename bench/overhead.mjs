// The harness of the overhead benchmarks: a workload timed alone and under each tracer, the runs
// interleaved so that drift in the machine's speed falls on all alike, and each tracer's overhead
// (the time it adds) as a ratio of each peer's. A tracer says when it is attached (`ready`) and
// must show, at its end, that it saw the workload (`seen`).
import {spawn} from 'node:child_process'

import {hostLine, median, timeCommand} from './measure.mjs'

/** Runs the workload once; its wall time in ms. */
export const timeWorkload = ([command, ...args]) => timeCommand(command, args)

/** Starts a tracer, waits until it says it is attached, times the workload, stops it with SIGINT. */
export async function underTracer({command, args, ready, seen}, workload) {
  // Its own process group, so that SIGINT reaches a tracer's command as it would from a terminal.
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
  const ms = timeWorkload(workload)
  const exited = new Promise((resolve) => tracer.on('exit', resolve))
  process.kill(-tracer.pid, 'SIGINT')
  await exited
  if (!seen.test(output)) throw new Error(`${command} did not see the workload:\n${output.slice(-500)}`)
  return ms
}

/**
 * Times `runs` rounds of: the workload alone, then under each tracer in turn. Prints each one's
 * median and slowdown, then each diag tracer's overhead as a ratio of each peer's (below 1: diag
 * adds less time than that peer).
 */
export async function compareOverhead({title, workload, tracers, peers, runs}) {
  const samples = {baseline: [], ...Object.fromEntries(Object.keys(tracers).map((name) => [name, []]))}
  for (let i = 0; i < runs; i++) {
    samples.baseline.push(timeWorkload(workload))
    for (const [name, tracer] of Object.entries(tracers)) samples[name].push(await underTracer(tracer, workload))
  }
  const base = median(samples.baseline)
  console.log(`${title}; ${runs} runs each, interleaved; ${hostLine()}`)
  const slowdown = {}
  for (const [name, values] of Object.entries(samples)) {
    slowdown[name] = median(values) / base
    console.log(`${name.padEnd(32)} median ${median(values).toFixed(0).padStart(6)} ms  slowdown ${slowdown[name].toFixed(2)}x`)
  }
  for (const name of Object.keys(tracers).filter((n) => !peers.includes(n))) {
    const ratios = peers.map((peer) => `${((slowdown[name] - 1) / (slowdown[peer] - 1)).toFixed(2)} of ${peer}'s`)
    console.log(`${name}: overhead ${ratios.join(', ')}`)
  }
}
