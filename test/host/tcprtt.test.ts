import {mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {probeHost} from '../../src/probe/probe.js'
import type {Histograms, ToolResult} from '../../src/result/model.js'
import {log2Slot} from '../../src/result/normalize.js'
import {NodeFiles} from '../../src/system/files.js'
import {UndoLog} from '../../src/system/undo.js'
import {tracepoint as tcprttOnTracepoint} from '../../tools/tcprtt/bpf.js'
import {tcprtt} from '../../tools/tcprtt/tool.js'
import {diagJson} from '../helpers/cli.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'
import {TCP_WORKLOAD, withTcpServer} from '../helpers/workload.js'
import {hostTruths, skipReason} from '../helpers/ground-truth.js'

const SESSIONS = 20
const CANDIDATES = tcprtt.candidates.map((c) => ({id: c.id, needs: c.needs}))

/**
 * The srtt (µs) of every tcp:tcp_probe event the kernel records while `use` runs, seen through the
 * test's own tracefs mount and instance, filtered as given: the answer diag must match, from the
 * same events, read apart from diag. The instance and the mount are gone when it returns.
 */
async function probeEvents(filter: string, use: () => Promise<void>): Promise<number[]> {
  const mount = mkdtempSync(path.join(tmpdir(), 'diag-tcprtt-truth-'))
  await execa('mount', ['-t', 'tracefs', 'nodev', mount])
  const instance = path.join(mount, 'instances', `difftest-tcprtt-${process.pid}`)
  try {
    mkdirSync(instance)
    try {
      const event = path.join(instance, 'events/tcp/tcp_probe')
      writeFileSync(path.join(event, 'filter'), filter)
      writeFileSync(path.join(event, 'enable'), '1')
      try {
        await use()
      } finally {
        writeFileSync(path.join(event, 'enable'), '0')
      }
      const trace = readFileSync(path.join(instance, 'trace'), 'utf8')
      expect(trace).not.toMatch(/LOST \d+ EVENTS/)
      return [...trace.matchAll(/ tcp_probe: .*\bsrtt=(\d+)/g)].map((m) => Number(m[1]))
    } finally {
      rmdirSync(instance)
    }
  } finally {
    await execa('umount', [mount])
    rmdirSync(mount)
  }
}

function slotsOf(srtts: number[]): Record<number, number> {
  const slots: Record<number, number> = {}
  for (const us of srtts) slots[log2Slot(us)] = (slots[log2Slot(us)] ?? 0) + 1
  return slots
}

describe.skipIf(!isRoot)('tcprtt on this host (needs root)', () => {
  expectKernelStateKept()
  // Why a candidate cannot run here, from what the kernel has (its config, peers), not from diag's probe.
  let truths: Map<string, boolean> | undefined
  beforeAll(async () => {
    truths = await hostTruths()
  })
  const missing = (needs: string[]) => skipReason(needs, truths)

  // A server socket receives each session's data and its FIN while established: 2 samples a
  // session, every one also an event in the test's own instance, with the same srtt.
  for (const address of ['127.0.0.1', '::1']) {
    it.for(CANDIDATES)(`$id: the server side of ${SESSIONS} sessions on ${address}, sample for sample the kernel's tcp_probe events`, async ({id, needs}, context) => {
      if (missing(needs)) return context.skip(missing(needs)!)
      const byHost = id !== 'ftrace-hist' // hist triggers give the total only (tool.ts)
      await withTcpServer(address, 1000, async (port) => {
        let result: ToolResult | undefined
        const srtts = await probeEvents(`sport == ${port}`, async () => {
          const args = ['tcprtt', '--backend', id, ...(byHost ? ['--by-host'] : []), '--lport', String(port), '--', TCP_WORKLOAD, 'client', address, String(port), String(SESSIONS), '1000']
          const run = await diagJson<ToolResult>(args)
          expect(run.exitCode, run.stderr).toBe(0)
          result = run.json
        })
        expect(schemaErrors('result', result)).toBe('')
        expect(result!.backend.candidate).toBe(id)
        expect(result!.lost).toBe(0)
        const data = result!.intervals[0].data as Histograms
        expect(data).toMatchObject({kind: 'histograms', unit: 'usecs', labelKey: byHost ? 'host' : null})
        // One histogram, labelled with the peer's address as formatIp prints it.
        expect(data.histograms.map((h) => h.label)).toEqual([byHost ? address : null])
        const [histogram] = data.histograms
        expect(srtts).toHaveLength(2 * SESSIONS)
        expect(histogram.count).toBe(srtts.length)
        const slots = Object.fromEntries(histogram.buckets.map((b, slot) => [slot, b.count]).filter(([, n]) => n > 0))
        expect(slots).toEqual(slotsOf(srtts))
        // Loopback: tens of µs, well under a millisecond even on a busy machine.
        expect(Math.max(...srtts)).toBeLessThan(10_000)
      })
    })
  }

  // 4.16 to 5.1 (RHEL 8's and Ubuntu 18.04's 4.18) have tcp_probe but no global data: the build
  // with knobs in maps must filter, label and slot as the one with globals does.
  it('bpf-tracepoint from the build with knobs in maps: the same samples, by host', async (context) => {
    const needs = CANDIDATES.find((c) => c.id === 'bpf-tracepoint')!.needs
    if (missing(needs)) return context.skip(missing(needs)!)
    const undo = new UndoLog()
    try {
      const probe = await probeHost({only: [...needs, 'bpf-global-data']}, undo)
      const old = {...probe, capabilities: probe.capabilities.map((c) => (c.name === 'bpf-global-data' ? {...c, status: 'unavailable' as const} : c))}
      await withTcpServer('::1', 1000, async (port) => {
        let data: Histograms | undefined
        const srtts = await probeEvents(`sport == ${port}`, async () => {
          const options = {unit: 'usecs' as const, byHost: true, lport: port}
          const collector = await tcprttOnTracepoint.start({options, probe: old, files: new NodeFiles('/'), undo, pid: process.pid, signal: new AbortController().signal})
          expect(collector.attach).toBe('tracepoint tcp:tcp_probe')
          const maps = JSON.parse((await execa('bpftool', ['map', 'list', '--json'])).stdout) as {name?: string}[]
          expect(maps.map((m) => m.name)).toEqual(expect.arrayContaining(['knob_lport', 'knob_per_host', 'knob_srtt_offse']))
          await execa(TCP_WORKLOAD, ['client', '::1', String(port), String(SESSIONS), '1000'])
          data = (await collector.collect()) as Histograms
          expect(await collector.lost()).toBe(0)
        })
        expect(srtts).toHaveLength(2 * SESSIONS)
        expect(data!.histograms.map((h) => [h.label, h.count])).toEqual([['::1', srtts.length]])
        const slots = Object.fromEntries(data!.histograms[0].buckets.map((b, slot) => [slot, b.count]).filter(([, n]) => n > 0))
        expect(slots).toEqual(slotsOf(srtts))
      })
    } finally {
      expect(await undo.unwind()).toEqual([])
    }
  })

  it('--unit ms puts loopback RTTs in the first slot (0-1 ms), from the client side (--rport)', async (context) => {
    const first = CANDIDATES.find((c) => !missing(c.needs))
    if (!first) return context.skip('no tcprtt candidate works here')
    await withTcpServer('127.0.0.1', 1000, async (port) => {
      const run = await diagJson<ToolResult>(['tcprtt', '--unit', 'ms', '--rport', String(port), '--', TCP_WORKLOAD, 'client', '127.0.0.1', String(port), '5', '1000'])
      expect(run.exitCode, run.stderr).toBe(0)
      const [histogram] = (run.json.intervals[0].data as Histograms).histograms
      expect(run.json.intervals[0].data).toMatchObject({unit: 'msecs', labelKey: null})
      expect(histogram.buckets).toHaveLength(1)
      expect(histogram.count).toBeGreaterThan(0)
    })
  })
})
