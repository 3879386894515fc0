import {existsSync} from 'node:fs'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {NO_GLOBAL_DATA} from '../../backends/bpf/bpf-tool.js'
import {PERF_BUFFER, RING_BUFFER} from '../../backends/bpf/event-buffer.js'
import {probeHost} from '../../src/probe/probe.js'
import {bpfObjectPath, packageRoot} from '../../src/system/paths.js'
import {UndoLog} from '../../src/system/undo.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {workloadBuilt} from '../helpers/workload.js'

// backends/bpf/event-buffer.ts on this kernel, through bench/event-consumer.mjs: one record per
// getppid() of a workload making a known number of them (test/bpf/getppid-events.bpf.c). What the
// consumer receives plus what is reported lost must be exactly what was emitted, whether the
// consumer keeps up or is slowed down on purpose; when it keeps up, nothing may be lost.

interface Consumed {
  kind: 'ring' | 'perf'
  emitted: number
  received: number
  lost: number
  batches: number
  /** Records naming another thread than the workload's: must be none. */
  foreign: number
  /** Records older than the one before from the same thread. */
  backwards: number
  seconds: number
  cpuSeconds: number
  workloadStatus: number
  /** BPF, perf event and epoll fds the consumer still held after its undo log ran. */
  leftOpen: string[]
}

const objectsBuilt = ['getppid-events', `getppid-events.${NO_GLOBAL_DATA}`].every((o) => existsSync(bpfObjectPath(o)))

async function run(kind: 'ring' | 'perf', n: number, rate: number, slowMs = 0, mode?: string): Promise<Consumed> {
  const args = ['bench/event-consumer.mjs', kind, String(n), String(rate), String(slowMs), ...(mode ? [mode] : [])]
  const child = await execa(process.execPath, args, {cwd: packageRoot, reject: false})
  expect(child.exitCode, child.stderr).toBe(0)
  const result = JSON.parse(child.stdout) as Consumed
  expect(result.kind).toBe(kind)
  expect(result.workloadStatus).toBe(0)
  expect(result.foreign).toBe(0)
  expect(result.leftOpen).toEqual([])
  return result
}

async function consume(kind: 'ring' | 'perf', n: number, rate: number, slowMs = 0): Promise<Consumed> {
  const result = await run(kind, n, rate, slowMs)
  expect(result.received + result.lost, `received ${result.received} + lost ${result.lost}`).toBe(n)
  return result
}

describe.skipIf(!isRoot || !workloadBuilt || !objectsBuilt)('BPF ring and perf buffers on this host (needs root, the workload and npm run build:bpf)', () => {
  expectKernelStateKept()
  const missing: Record<string, string | undefined> = {}

  beforeAll(async () => {
    const undo = new UndoLog()
    const probe = await probeHost({only: ['bpf-tracepoint', RING_BUFFER, PERF_BUFFER]}, undo)
    await undo.unwind()
    const lacks = (names: string[]) => {
      const unmet = probe.capabilities.filter((c) => names.includes(c.name) && c.status !== 'available').map((c) => `${c.name} (${c.detail})`)
      return unmet.length ? `this kernel lacks ${unmet.join(', ')}` : undefined
    }
    missing.ring = lacks(['bpf-tracepoint', RING_BUFFER])
    missing.perf = lacks(['bpf-tracepoint', PERF_BUFFER])
  })

  // 200,000 events a second for five seconds, each record checked.
  it('ring buffer, a consumer that keeps up: 1,000,000 events at 200,000/s all arrive, none lost', async (context) => {
    if (missing.ring) return context.skip(missing.ring)
    const result = await consume('ring', 1_000_000, 200_000)
    expect(result.lost).toBe(0)
    expect(result.received).toBe(1_000_000)
    expect(result.backwards).toBe(0)
  }, 60_000)

  it('ring buffer, a consumer slowed 200 ms per batch: 1,000,000 events as fast as they come, the overruns are in lost', async (context) => {
    if (missing.ring) return context.skip(missing.ring)
    const result = await consume('ring', 1_000_000, 0, 200)
    expect(result.lost, 'the consumer should fall behind').toBeGreaterThan(0)
    // What waited is handed over in big batches, one JS call each.
    expect(result.received / result.batches).toBeGreaterThan(100)
  }, 60_000)

  // The perf buffer, as on kernels before 5.8: forced here, where both exist. libbpf asks the
  // kernel to wake the consumer for every record, so it keeps up with less than a ring buffer.
  it('perf buffer, a consumer that keeps up: 200,000 events at 50,000/s all arrive, none lost', async (context) => {
    if (missing.perf) return context.skip(missing.perf)
    const result = await consume('perf', 200_000, 50_000)
    expect(result.lost).toBe(0)
    expect(result.received).toBe(200_000)
  }, 60_000)

  // Its per-record wakeups slow the workload down too (to about 100,000/s here): the consumer
  // falls behind its 256 KiB per CPU only when it sleeps long.
  it('perf buffer, a consumer slowed 200 ms per batch: 1,000,000 events as fast as they come, the overruns are in lost', async (context) => {
    if (missing.perf) return context.skip(missing.perf)
    const result = await consume('perf', 1_000_000, 0, 200)
    expect(result.lost, 'the consumer should fall behind').toBeGreaterThan(0)
  }, 120_000)

  // The addon frees a buffer closed from its own callback only once the callback has returned.
  for (const kind of ['ring', 'perf'] as const)
    it(`${kind} buffer closed from its own callback: no crash, one batch, nothing left open`, async (context) => {
      if (missing[kind]) return context.skip(missing[kind])
      const result = await run(kind, 100_000, 0, 0, 'close-early')
      expect(result.batches).toBe(1)
      expect(result.received).toBeGreaterThan(0)
    }, 60_000)
})
