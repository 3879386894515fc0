import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CapabilitiesReport} from '../../src/plan/report.js'
import type {Counts, Histograms, ToolResult} from '../../src/result/model.js'
import {diag, diagJson, startDiag, tracingStarted} from '../helpers/cli.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {WORKLOAD, loopDevices, withLoopDevice, workloadBuilt} from '../helpers/workload.js'

const N = 20_000
// A process traced with --pid here starts behind the test's own shell, whose last few syscalls
// may be counted too (diag's gate, for `-- COMMAND`, adds none).
const HANDFUL = 5

function count(result: ToolResult, key: string): number {
  const data = result.intervals.map((i) => i.data as Counts)
  return data.flatMap((d) => d.rows).filter((r) => r.key === key).reduce((sum, r) => sum + r.count, 0)
}

function histogramTotal(result: ToolResult, label: string | null = null): number {
  return result.intervals
    .flatMap((i) => (i.data as Histograms).histograms)
    .filter((h) => h.label === label)
    .reduce((sum, h) => sum + h.count, 0)
}

let bpfMissing: string | undefined = isRoot ? undefined : 'needs root'

describe.skipIf(!isRoot || !workloadBuilt)('BPF backend on this host (needs root and the built workload)', () => {
  let before: KernelState
  let capabilities: CapabilitiesReport['capabilities'] = []

  beforeAll(async () => {
    before = await kernelState()
    capabilities = (await diagJson<CapabilitiesReport>(['capabilities'])).json.capabilities
    const unmet = ['bpf-tracepoint', 'bpf-map-hash'].filter((n) => capabilities.find((c) => c.name === n)?.status !== 'available')
    if (unmet.length) bpfMissing = `this kernel lacks ${unmet.join(', ')}`
  })

  afterAll(async () => {
    expect(await kernelState()).toEqual(before)
  })

  /** The capability a syscount candidate needs beyond BPF tracepoints, when this kernel lacks it. */
  const lacks = (candidate: string) => {
    const needed = {'bpf-tp-btf': 'bpf-tp-btf', 'bpf-raw-tracepoint': 'bpf-raw-tracepoint'}[candidate]
    const found = needed && capabilities.find((c) => c.name === needed)
    return found && found.status !== 'available' ? `this kernel lacks ${needed}: ${found.detail}` : undefined
  }

  it.for(['bpf-tp-btf', 'bpf-raw-tracepoint', 'bpf-tracepoint'])('syscount on %s counts exactly the getppid calls of a traced command', async (candidate, context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    if (lacks(candidate)) return context.skip(lacks(candidate)!)
    const run = await diagJson<ToolResult>(['syscount', '--backend', candidate, '--', WORKLOAD, 'getppid', String(N)])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json.backend).toMatchObject({name: 'bpf', candidate})
    expect(run.json.command).toEqual({argv: [WORKLOAD, 'getppid', String(N)], exitCode: 0})
    expect(count(run.json, 'getppid')).toBe(N)
    expect(run.json.lost).toBe(0)
  })

  // Numbers past the per-CPU array (bpf/syscount.h) are counted in the hash beside it.
  it.for(['bpf-tp-btf', 'bpf-raw-tracepoint', 'bpf-tracepoint'])('syscount on %s counts syscall numbers the kernel does not have', async (candidate, context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    if (lacks(candidate)) return context.skip(lacks(candidate)!)
    const run = await diagJson<ToolResult>(['syscount', '--backend', candidate, '--', WORKLOAD, 'nosys', '5000', '300'])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(count(run.json, 'syscall_5000')).toBe(300)
    expect(count(run.json, 'getppid')).toBe(0)
  })

  it('syscount --duration 2 --pid counts a running process, read from the text output', async (context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    // The workload waits on its stdin until diag says it is tracing.
    const workload = execa('sh', ['-c', `read -r _; exec ${WORKLOAD} getppid ${N}`], {stdin: 'pipe'})
    const tracer = startDiag(['syscount', '--backend', 'bpf', '--duration', '2', '--pid', String(workload.pid)])
    await tracingStarted(tracer, 'syscount: bpf backend')
    workload.stdin!.end('\n')
    await workload
    const run = await tracer
    expect(run.exitCode, String(run.stderr)).toBe(0)
    const row = /^getppid\s+(\d+)$/m.exec(String(run.stdout))
    expect(row, String(run.stdout)).not.toBeNull()
    expect(Number(row![1])).toBeGreaterThanOrEqual(N)
    expect(Number(row![1])).toBeLessThanOrEqual(N + HANDFUL)
  })

  it('syscount --by process names the traced command', async (context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    const run = await diagJson<ToolResult>(['syscount', '--by', 'process', '--backend', 'bpf', '--', WORKLOAD, 'getppid', String(N)])
    expect(run.exitCode, run.stderr).toBe(0)
    const rows = (run.json.intervals[0].data as Counts).rows
    expect(rows).toHaveLength(1)
    expect(rows[0].key).toMatch(/^diag-workload \[\d+\]$/)
    expect(rows[0].count).toBeGreaterThanOrEqual(N)
  })

  it('syscount --interval prints one result per interval, adding up to the whole', async (context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    const run = await diagJson<ToolResult>(['syscount', '--backend', 'bpf', '--interval', '0.2', '--', 'sh', '-c', `${WORKLOAD} getppid ${N}; sleep 0.5; ${WORKLOAD} getppid ${N}`])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json.intervals.length).toBeGreaterThanOrEqual(2)
    // The traced command is the shell: it asks getppid once itself, for $PPID.
    expect(count(run.json, 'getppid')).toBe(2 * N + 1)
  })

  it.skipIf(!loopDevices)('biolatency counts every direct write to a loop device in its histogram', async (context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    await withLoopDevice(async (device) => {
      const run = await diagJson<ToolResult>(['biolatency', '--disks', '--backend', 'bpf', '--', WORKLOAD, 'dwrite', device, '300'])
      expect(run.exitCode, run.stderr).toBe(0)
      expect(histogramTotal(run.json, path.basename(device))).toBe(300)
      const data = run.json.intervals[0].data as Histograms
      expect(data).toMatchObject({kind: 'histograms', unit: 'usecs', labelKey: 'disk'})
    })
  })

  // A loop device has no I/O scheduler: its requests are issued as they are made, which
  // block_rq_insert never sees; --queued must still count every one.
  it.skipIf(!loopDevices)('biolatency --queued counts every direct write from when its request is made', async (context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    await withLoopDevice(async (device) => {
      const run = await diagJson<ToolResult>(['biolatency', '--queued', '--disks', '--backend', 'bpf', '--', WORKLOAD, 'dwrite', device, '200'])
      expect(run.exitCode, run.stderr).toBe(0)
      expect(histogramTotal(run.json, path.basename(device))).toBe(200)
      expect(run.json.backend.attach).toMatch(/block_io_start|block_rq_insert/)
    })
  })

  it('biolatency --unit ms without --disks gives one system histogram', async (context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    // Allocated first: a direct write that extends a file may be done through the page cache
    // instead, its I/O then written back after diag has stopped (seen: 49 of 50 counted).
    const file = `/tmp/diag-test-${process.pid}.img`
    await execa('fallocate', ['-l', String(50 * 8192), file])
    const run = await diagJson<ToolResult>(['biolatency', '--unit', 'ms', '--backend', 'bpf', '--', WORKLOAD, 'dwrite', file, '50'])
    await execa('rm', ['-f', file])
    expect(run.exitCode, run.stderr).toBe(0)
    const data = run.json.intervals[0].data as Histograms
    expect(data.unit).toBe('msecs')
    expect(data.histograms.map((h) => h.label)).toEqual([null])
    expect(histogramTotal(run.json)).toBeGreaterThanOrEqual(50)
  })

  it('runqlat sees the wakeups of a ping-pong workload', async (context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    const run = await diagJson<ToolResult>(['runqlat', '--backend', 'bpf', '--', WORKLOAD, 'wakeups', '2000'])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(histogramTotal(run.json)).toBeGreaterThanOrEqual(2000)
  })

  it('SIGTERM mid-run stops tracing, prints the result and leaves no program behind', async (context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    const tracer = startDiag(['syscount', '--backend', 'bpf'])
    await tracingStarted(tracer, 'Hit Ctrl-C')
    tracer.kill('SIGTERM')
    const run = await tracer
    expect(run.exitCode).toBe(0)
    expect(String(run.stdout)).toMatch(/SYSCALL\s+COUNT/)
    expect((await kernelState()).bpfPrograms).toEqual([])
  })

  it('SIGKILL mid-run leaves no BPF program: every attachment dies with the process', async (context) => {
    if (bpfMissing) return context.skip(bpfMissing)
    const tracer = startDiag(['runqlat', '--backend', 'bpf'])
    await tracingStarted(tracer, 'Hit Ctrl-C')
    tracer.kill('SIGKILL')
    await tracer
    expect((await kernelState()).bpfPrograms).toEqual([])
    // Its private tracefs mount (the host had none) is what SIGKILL leaves: diag reset removes it.
    const reset = await diag(['reset'])
    expect(reset.exitCode, reset.stderr).toBe(0)
  })
})
