import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {NO_GLOBAL_DATA} from '../../backends/bpf/bpf-tool.js'
import {tracepoint as syscountOnTracepoint} from '../../tools/syscount/bpf.js'
import type {SyscountOptions} from '../../tools/syscount/tool.js'
import {probeHost} from '../../src/probe/probe.js'
import type {Counts} from '../../src/result/model.js'
import {NodeFiles} from '../../src/system/files.js'
import {bpfObjectPath, packageRoot} from '../../src/system/paths.js'
import {UndoLog} from '../../src/system/undo.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {WORKLOAD, workloadBuilt} from '../helpers/workload.js'

const N = 20_000
const HANDFUL = 5
const ADDON = path.join(packageRoot, 'native/build/Release/diag_bpf.node')

/** The loaded maps' names (the kernel keeps 15 characters), while something is loaded. */
async function mapNames(): Promise<string[]> {
  const {stdout} = await execa('bpftool', ['map', 'list', '--json'])
  return (JSON.parse(stdout) as {name?: string}[]).map((m) => m.name ?? '')
}

describe.skipIf(!isRoot || !workloadBuilt)('BPF objects for kernels without global data, on this host (needs root)', () => {
  let before: KernelState
  let missing: string | undefined

  beforeAll(async () => {
    before = await kernelState()
    const probe = await probeHost({only: ['bpf-tracepoint', 'bpf-perf-event', 'syscall-tracepoints']}, new UndoLog())
    const unmet = probe.capabilities.filter((c) => c.status !== 'available').map((c) => `${c.name} (${c.detail})`)
    if (unmet.length) missing = `this kernel lacks ${unmet.join(', ')}`
  })

  afterAll(async () => {
    expect(await kernelState()).toEqual(before)
  })

  // The build that 4.x kernels load runs on this kernel too: its knobs, read from maps, must
  // select the same events as the globals do (pid filter, fork follower, field offset).
  it('syscount from the build with knobs in maps counts exactly the traced command', async (context) => {
    if (missing) return context.skip(missing)
    const undo = new UndoLog()
    const gate = execa('sh', ['-c', `read -r _; exec ${WORKLOAD} getppid ${N}`], {stdin: 'pipe'})
    try {
      const probe = await probeHost({only: ['bpf-tracepoint', 'syscall-tracepoints', 'bpf-global-data']}, undo)
      // As on a kernel before 5.2.
      const old = {...probe, capabilities: probe.capabilities.map((c) => (c.name === 'bpf-global-data' ? {...c, status: 'unavailable' as const} : c))}
      const options: SyscountOptions = {by: 'syscall', top: 10}
      const collector = await syscountOnTracepoint.start({
        options,
        probe: old,
        files: new NodeFiles('/'),
        undo,
        pid: process.pid,
        targetPid: gate.pid,
        signal: new AbortController().signal,
      })
      expect(await mapNames()).toEqual(expect.arrayContaining(['knob_id_offset', 'knob_count_by', 'knob_filter_tgi']))
      gate.stdin!.end('\n')
      await gate
      const rows = ((await collector.collect()) as Counts).rows
      const getppid = rows.find((r) => r.key === 'getppid')?.count ?? 0
      expect(getppid).toBeGreaterThanOrEqual(N)
      expect(getppid).toBeLessThanOrEqual(N + HANDFUL)
      expect(await collector.lost()).toBe(0)
    } finally {
      gate.kill()
      await gate.catch(() => undefined)
      expect(await undo.unwind()).toEqual([])
    }
  })

  it('builds every classic object twice, and the no-global-data build has no global data', async () => {
    for (const tool of ['syscount', 'biolatency', 'runqlat', 'funccount', 'funcprofile']) {
      const {stdout} = await execa('llvm-objdump', ['-h', bpfObjectPath(`${tool}.${NO_GLOBAL_DATA}`)])
      expect(stdout, tool).not.toMatch(/ \.(rodata|data|bss)/)
      expect(stdout, tool).toMatch(/ \.maps/)
    }
  })

  // libbpf's perf link owns the perf event fd: closing it again after bpf_link__destroy would
  // close whatever file got that number in between (issue #10 item 5). strace shows each close.
  it('detaching a perf-event link closes its perf event fd exactly once', async (context) => {
    if (missing) return context.skip(missing)
    const dir = mkdtempSync(path.join(tmpdir(), 'diag-fd-'))
    try {
      const script = `
        const addon = require(${JSON.stringify(ADDON)})
        const object = new addon.BpfObject(${JSON.stringify(bpfObjectPath('probe'))})
        for (const p of object.programs()) object.setAutoload(p.name, p.name === 'probe_perf_event')
        object.load()
        const spec = {kind: 'perf_event', type: 1, config: 0, cpu: 0, frequency: 1}
        for (let i = 0; i < 3; i++) object.detach(object.attach('probe_perf_event', spec))
        object.attach('probe_perf_event', spec)
        object.destroy()
      `
      const trace = path.join(dir, 'trace')
      const run = await execa('strace', ['-f', '-qq', '-e', 'trace=perf_event_open,close', '-o', trace, process.execPath, '-e', script], {reject: false})
      expect(run.exitCode, String(run.stderr)).toBe(0)
      const lines = readFileSync(trace, 'utf8').split('\n')
      const perfFds = new Set(lines.flatMap((l) => /perf_event_open\(.*\) = (\d+)$/.exec(l)?.[1] ?? []))
      expect(perfFds.size).toBeGreaterThan(0)
      const badCloses = lines.filter((l) => {
        const m = /close\((\d+)\)\s+= -1 EBADF/.exec(l)
        return m && perfFds.has(m[1])
      })
      expect(badCloses).toEqual([])
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
