import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CapabilitiesReport} from '../../src/plan/report.js'
import type {Counts, Histograms, ToolResult} from '../../src/result/model.js'
import {diagJson} from '../helpers/cli.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {WORKLOAD, loopDevices, withLoopDevice, workloadBuilt} from '../helpers/workload.js'

// The event-stream backends read the ring buffer in diag while the traced work runs on both CPUs at
// full rate, faster than diag's readers keep up with: what they cannot read, the ring
// buffer overwrites, and the kernel counts it (per_cpu/cpuN/stats). Every event must be either
// counted or in `lost`, never silently gone.

const total = (result: ToolResult) =>
  result.intervals.flatMap((i) => (i.data as Counts).rows).reduce((sum, row) => sum + row.count, 0)
const histogramTotal = (result: ToolResult, label: string | null) =>
  result.intervals
    .flatMap((i) => (i.data as Histograms).histograms)
    .filter((h) => h.label === label)
    .reduce((sum, h) => sum + h.count, 0)

let missing: string | undefined

describe.skipIf(!isRoot || !workloadBuilt)('stream backends under a load they cannot keep up with (needs root and the built workload)', () => {
  let before: KernelState

  beforeAll(async () => {
    before = await kernelState()
    const capabilities = (await diagJson<CapabilitiesReport>(['capabilities'])).json.capabilities
    const unmet = ['ftrace-instances', 'bpf-tracepoint'].filter((n) => capabilities.find((c) => c.name === n)?.status !== 'available')
    if (unmet.length) missing = `this kernel lacks ${unmet.join(', ')}`
  })

  afterAll(async () => {
    expect(await kernelState()).toEqual(before)
  })

  // Six processes of 1,000,000 getppid calls each: 6,000,000 events in a few seconds. (Two
  // processes, 2,000,000 events, no longer overrun the buffer: the binary trace_pipe_raw reader
  // reads them all on this host.) The truth is every syscall the command makes, counted by the BPF
  // backend (exact, lost 0); the stream's count plus its lost (the kernel's overruns, and what was
  // left unread) must equal it.
  const workload = [WORKLOAD, 'getppid', '1000000', '6']
  it('syscount on ftrace-stream, 6,000,000 events: counted + lost == every syscall of the command, in each of 3 runs', async (context) => {
    if (missing) return context.skip(missing)
    const truth = await diagJson<ToolResult>(['syscount', '--backend', 'bpf-tracepoint', '--', ...workload])
    expect(truth.exitCode, truth.stderr).toBe(0)
    expect(truth.json.lost).toBe(0)
    const calls = total(truth.json)
    expect(calls).toBeGreaterThanOrEqual(6_000_000)
    for (let run = 0; run < 3; run++) {
      const stream = await diagJson<ToolResult>(['syscount', '--backend', 'ftrace-stream', '--', ...workload])
      expect(stream.exitCode, stream.stderr).toBe(0)
      expect(stream.json.lost, 'the load should be more than the stream can read').toBeGreaterThan(0)
      expect(total(stream.json) + stream.json.lost!).toBe(calls)
    }
  }, 300_000)

  // Under the same load from other processes, runqlat and biolatency are fed events only their
  // own: a known workload gives a number that the stream must reach with what it counts plus what
  // it lost. A lost event loses at most one latency, so counted <= truth <= counted + lost for the
  // traced device; runqlat is system-wide, where other tasks only add.
  it.skipIf(!loopDevices)('biolatency on ftrace-stream: every direct write is counted or lost', async (context) => {
    if (missing) return context.skip(missing)
    const N = 20_000
    await withLoopDevice(async (device) => {
      const run = await diagJson<ToolResult>(['biolatency', '--disks', '--backend', 'ftrace-stream', '--', WORKLOAD, 'dwrite', device, String(N)])
      expect(run.exitCode, run.stderr).toBe(0)
      const counted = histogramTotal(run.json, device.replace('/dev/', ''))
      expect(counted).toBeLessThanOrEqual(N)
      expect(counted + run.json.lost!).toBeGreaterThanOrEqual(N)
      if (run.json.lost === 0) expect(counted).toBe(N)
    })
  }, 120_000)

  // Each context switch of a task is followed by one switch back in, which runqlat counts (a
  // wakeup or a preemption started its wait): the workloads' own getrusage is the truth. ("4N
  // wakeups" was not: a task woken while still on its CPU never switches in for it, and a reader
  // that finds its pipe full is not woken.)
  it('runqlat on ftrace-stream: every switch in of a ping-pong workload is counted or lost', async (context) => {
    if (missing) return context.skip(missing)
    const N = 100_000
    const pair = `${WORKLOAD} wakeups ${N} switches`
    const run = await diagJson<ToolResult>(['runqlat', '--backend', 'ftrace-stream', '--', 'sh', '-c', `${pair} & ${pair}; wait`])
    expect(run.exitCode, run.stderr).toBe(0)
    const switches = [...run.stderr.matchAll(/diag-workload: (\d+) context switches/g)].map((m) => Number(m[1]))
    expect(switches, run.stderr).toHaveLength(2)
    const truth = switches[0] + switches[1]
    expect(truth).toBeGreaterThanOrEqual(4 * N * 0.9)
    expect(histogramTotal(run.json, null) + run.json.lost!).toBeGreaterThanOrEqual(truth)
  }, 120_000)
})
