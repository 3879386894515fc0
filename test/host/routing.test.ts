import {mkdtempSync, readFileSync, rmdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import type {CapabilitiesReport} from '../../src/plan/report.js'
import type {Histograms, ToolResult} from '../../src/result/model.js'
import {type BpfAddonError, type BpfObjectHandle, loadBpfAddon} from '../../src/system/bpf-addon.js'
import {bpfObjectPath} from '../../src/system/paths.js'
import {diag, diagJson} from '../helpers/cli.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'
import {WORKLOAD, loopDevices, withLoopDevice, workloadBuilt} from '../helpers/workload.js'

// The kernel attaches at most this many BPF programs to one tracepoint through perf events
// (BPF_TRACE_MAX_PROGS in kernel/trace/bpf_trace.c); the next attach fails with E2BIG.
const BPF_TRACE_MAX_PROGS = 64

async function tracepointId(event: string): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-test-id-'))
  await execa('mount', ['-t', 'tracefs', 'nodev', dir])
  try {
    return Number(readFileSync(path.join(dir, 'events', event, 'id'), 'utf8'))
  } finally {
    await execa('umount', [dir])
    rmdirSync(dir)
  }
}

/**
 * Fills a tracepoint with do-nothing BPF programs of another owner (this test), as a busy host's
 * other tracers could: a real reason for diag's own attach there to fail after its load worked.
 */
async function fillTracepoint(event: string): Promise<{programs: number; release: () => void}> {
  const load = loadBpfAddon()
  if (!load.ok) throw new Error(load.reason)
  const id = await tracepointId(event)
  const objects: BpfObjectHandle[] = []
  const release = () => objects.splice(0).forEach((o) => o.destroy())
  try {
    while (objects.length < BPF_TRACE_MAX_PROGS) {
      const object = new load.addon.BpfObject(bpfObjectPath('probe'))
      objects.push(object)
      for (const p of object.programs()) object.setAutoload(p.name, p.name === 'probe_tracepoint')
      object.load()
      try {
        object.attach('probe_tracepoint', {kind: 'perf_event', type: 2, config: id, cpu: 0})
      } catch (error) {
        // Already full (someone else's programs are there too): full is what the test needs.
        if ((error as BpfAddonError).code === 'E2BIG') break
        throw error
      }
    }
  } catch (error) {
    release()
    throw error
  }
  return {programs: objects.length, release}
}

function histogramTotal(result: ToolResult, label: string): number {
  return result.intervals.flatMap((i) => (i.data as Histograms).histograms).filter((h) => h.label === label).reduce((sum, h) => sum + h.count, 0)
}

describe.skipIf(!isRoot || !workloadBuilt)('routing on this host (needs root and the built workload)', () => {
  let before: KernelState
  let capabilities: CapabilitiesReport['capabilities'] = []
  const lacking = (...names: string[]) => names.filter((n) => capabilities.find((c) => c.name === n)?.status !== 'available')

  beforeAll(async () => {
    before = await kernelState()
    capabilities = (await diagJson<CapabilitiesReport>(['capabilities'])).json.capabilities
  })

  afterAll(async () => {
    expect(await kernelState()).toEqual(before)
  })

  it.skipIf(!loopDevices)(
    'biolatency: a BPF candidate that loads but cannot attach is undone, and the next candidate counts every write',
    async (context) => {
      const unmet = lacking('bpf-tracepoint', 'bpf-map-hash', 'ftrace-instances', 'tracepoints')
      if (unmet.length) return context.skip(`this kernel lacks ${unmet.join(', ')}`)
      // block_rq_issue stays free, so diag's first attach works and its undo must detach it.
      const filled = await fillTracepoint('block/block_rq_complete')
      try {
        const theirs = (await kernelState()).bpfPrograms
        expect(theirs).toHaveLength(filled.programs)
        await withLoopDevice(async (device) => {
          const run = await diagJson<ToolResult>(['biolatency', '--disks', '--', WORKLOAD, 'dwrite', device, '300'])
          expect(run.exitCode, run.stderr).toBe(0)
          expect(schemaErrors('result', run.json)).toBe('')
          expect(run.json.backend.name).toBe('ftrace')
          const failed = run.json.route.passedOver.find((p) => p.candidate === 'bpf-tracepoint')
          expect(failed).toMatchObject({stage: 'start'})
          expect(failed!.reasons.join(' ')).toMatch(/attaching tracepoint block:block_rq_complete: E2BIG/)
          expect(run.json.route.why).toMatch(/after bpf-tracepoint failed to start \(undone\)/)
          expect(histogramTotal(run.json, path.basename(device))).toBe(300)
        })
        // diag's loaded program and its attachment to block_rq_issue are gone; only the test's remain.
        expect((await kernelState()).bpfPrograms).toEqual(theirs)

        // Forced by its id, the candidate does not fall through: it fails as it did before.
        const forced = await diag(['biolatency', '--backend', 'bpf-tracepoint', '-d', '1'])
        expect(forced.exitCode, forced.stderr).toBe(EXIT.backendFailed)
        expect(forced.stderr).toMatch(/^diag: attaching tracepoint block:block_rq_complete: E2BIG/)
        expect((await kernelState()).bpfPrograms).toEqual(theirs)
      } finally {
        filled.release()
      }
    },
    120_000,
  )

  it('syscount --pid without --duration ends when that process exits', async (context) => {
    const unmet = lacking('bpf-tracepoint', 'bpf-map-percpu-hash')
    if (unmet.length) return context.skip(`this kernel lacks ${unmet.join(', ')}`)
    const sleeper = execa('sleep', ['3'])
    const started = Date.now()
    const run = await diagJson<ToolResult>(['syscount', '--pid', String(sleeper.pid)])
    await sleeper
    expect(run.exitCode, run.stderr).toBe(0)
    // It ran until the sleep ended, and not much past it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(run.json.intervals).toHaveLength(1)
  }, 60_000)
})
