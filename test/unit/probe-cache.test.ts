import {appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {BUILD_ID_FILE, type CachedOutcome, FileProbeCache, type ProbeCache, diagBuild, probeCode} from '../../src/probe/cache.js'
import {probeHost} from '../../src/probe/probe.js'
import {type Capability, type Outcome, available, unavailable, unknown} from '../../src/probe/types.js'
import {UndoLog} from '../../src/system/undo.js'
import {NodeFiles} from '../../src/system/files.js'
import {FAKE_KERNELS, makeFakeHost} from '../helpers/fake-host.js'
import {isRoot} from '../helpers/kernel-state.js'
import {MemoryCache} from '../helpers/probe-cache.js'

/** Live capabilities whose probes count their calls. */
function table(calls: Record<string, number>, answers: Record<string, () => Outcome>): Capability[] {
  return Object.entries(answers).map(([name, answer]) => ({
    name,
    section: 'bpf',
    description: name,
    minKernel: null,
    live: true,
    stableForBoot: name !== 'sysctl',
    probe: () => {
      calls[name] = (calls[name] ?? 0) + 1
      return answer()
    },
  }))
}

describe('the probe cache', () => {
  const host = makeFakeHost(FAKE_KERNELS['5.15'])
  afterAll(() => host.remove())

  it('reuses conclusive answers of stable probes, never unknown ones, and --refresh probes anew', async () => {
    const calls: Record<string, number> = {}
    const capabilities = table(calls, {
      loads: () => available('probe', 'loaded and attached'),
      refused: () => unavailable('probe', 'load refused: EPERM'),
      unsure: () => unknown('probe', 'could not tell'),
      sysctl: () => available('probe', 'a value that may change'),
    })
    const cache = new MemoryCache()
    const probe = (refresh = false) => probeHost({files: new NodeFiles(host.root), capabilities, cache, refresh, bpf: () => ({ok: false, reason: 'none', tried: []})}, new UndoLog())

    const first = await probe()
    expect(first.capabilities.some((c) => c.cached)).toBe(false)
    expect([...cache.saved.keys()].sort()).toEqual(['loads', 'refused'])

    const second = await probe()
    const byName = new Map(second.capabilities.map((c) => [c.name, c]))
    expect(byName.get('loads')).toMatchObject({status: 'available', cached: true})
    expect(byName.get('refused')).toMatchObject({status: 'unavailable', cached: true})
    expect(byName.get('unsure')?.cached).toBeUndefined()
    expect(calls).toEqual({loads: 1, refused: 1, unsure: 2, sysctl: 2})

    const refreshed = await probe(true)
    expect(refreshed.capabilities.some((c) => c.cached)).toBe(false)
    expect(calls).toEqual({loads: 2, refused: 2, unsure: 3, sysctl: 3})
  })
})

describe("what runs find after probing (tcp_sock's calibrated offsets), in the same cache", () => {
  const host = makeFakeHost(FAKE_KERNELS['5.15'])
  afterAll(() => host.remove())
  const capabilities = table({}, {loads: () => available('probe', 'loaded and attached')})
  const probe = (cache: ProbeCache | null, refresh = false) =>
    probeHost({files: new NodeFiles(host.root), capabilities, cache, refresh, bpf: () => ({ok: false, reason: 'none', tried: []})}, new UndoLog())
  const offset: CachedOutcome = available('probe', 'calibrated against TCP_INFO', 1496)

  it('are read from a later run\'s probe, not with --refresh (--no-cache), and kept beside the probes\' answers', async () => {
    const cache = new MemoryCache()
    const first = await probe(cache)
    expect(first.answers?.get('tcp_sock.srtt_us')).toBeUndefined()
    await first.answers!.keep(new Map([['tcp_sock.srtt_us', offset]]))
    expect([...cache.saved.keys()].sort()).toEqual(['loads', 'tcp_sock.srtt_us'])
    // The same run asks again (a candidate that fell through to the next): no second calibration.
    expect(first.answers!.get('tcp_sock.srtt_us')).toEqual(offset)
    expect((await probe(cache)).answers?.get('tcp_sock.srtt_us')).toEqual(offset)
    const refreshed = await probe(cache, true)
    expect(refreshed.answers?.get('tcp_sock.srtt_us')).toBeUndefined()
    // --refresh starts the boot's answers over: the next run calibrates again too.
    expect([...cache.saved.keys()]).toEqual(['loads'])
    await refreshed.answers!.keep(new Map([['tcp_sock.srtt_us', {...offset, value: 1500}]]))
    expect(refreshed.answers!.get('tcp_sock.srtt_us')?.value).toBe(1500)
  })

  it('are not offered where the probe uses no cache', async () => {
    expect((await probe(null)).answers).toBeUndefined()
  })
})

describe('the live tracefs probes, cached for the boot', () => {
  const host = makeFakeHost(FAKE_KERNELS['5.15'])
  afterAll(() => host.remove())
  const tracing = path.join(host.root, 'sys/kernel/tracing')

  it('make no instance and define no event when the cache answers', async () => {
    const cache = new MemoryCache()
    const only = ['ftrace-instances', 'kprobe-events', 'uprobe-events']
    const probe = (refresh = false) => probeHost({files: new NodeFiles(host.root), only, cache, refresh, privileged: true, bpf: () => ({ok: false, reason: 'none', tried: []})}, new UndoLog())
    const definitions = () => readFileSync(path.join(tracing, 'kprobe_events'), 'utf8') + readFileSync(path.join(tracing, 'uprobe_events'), 'utf8')
    const status = (p: Awaited<ReturnType<typeof probe>>) => Object.fromEntries(p.capabilities.filter((c) => only.includes(c.name)).map((c) => [c.name, `${c.status} ${c.evidence}${c.cached ? ' cached' : ''}`]))

    expect(status(await probe())).toEqual({'ftrace-instances': 'available probe', 'kprobe-events': 'available probe', 'uprobe-events': 'available probe'})
    const written = definitions()
    expect(written).toMatch(/kprobe.*uprobe/s) // each defined, then removed
    // No pid in what is kept: a later run reads it as its own.
    for (const name of only) expect(cache.saved.get(name)?.detail).not.toMatch(/\d{2,}/)

    const again = await probe()
    expect(status(again)).toEqual({'ftrace-instances': 'available probe cached', 'kprobe-events': 'available probe cached', 'uprobe-events': 'available probe cached'})
    expect(definitions()).toBe(written)
    expect(again.tracefs).toBe('/sys/kernel/tracing')

    await probe(true)
    expect(definitions().length).toBeGreaterThan(written.length)
  })
})

describe('an installed program\'s answer (perf-tool), cached while its file is the same', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-perf-'))
  const perf = path.join(dir, 'perf')
  const runs = path.join(dir, 'runs')
  const savedPath = process.env.PATH
  afterAll(() => {
    process.env.PATH = savedPath
    rmSync(dir, {recursive: true, force: true})
  })
  /** A perf that counts its runs, answering its version or failing. */
  const install = (body: string) => writeFileSync(perf, `#!/bin/sh\necho run >> ${runs}\n${body}\n`, {mode: 0o755})
  const runCount = () => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length
  const perfTool = async (cache: ProbeCache, refresh = false) => {
    process.env.PATH = dir
    try {
      const probe = await probeHost({only: ['perf-tool'], cache, refresh, privileged: true}, new UndoLog())
      return probe.capabilities.find((c) => c.name === 'perf-tool')!
    } finally {
      process.env.PATH = savedPath
    }
  }

  it('starts perf once, then answers from the cache until the file changes or --refresh', async () => {
    const cache = new MemoryCache()
    install('echo "perf version 9.9.9"')
    expect(await perfTool(cache)).toMatchObject({status: 'available', value: '9.9.9'})
    expect(runCount()).toBe(1)
    expect(cache.saved.get('perf-tool')?.identity).toContain(perf)

    const again = await perfTool(cache)
    expect(again).toMatchObject({status: 'available', value: '9.9.9', cached: true})
    expect(again).not.toHaveProperty('identity')
    expect(runCount()).toBe(1)

    expect(await perfTool(cache, true)).not.toHaveProperty('cached')
    expect(runCount()).toBe(2)

    // Another perf in its place (an upgrade): probed anew.
    install('echo "perf version 10.0.1"')
    expect(await perfTool(cache)).toMatchObject({status: 'available', value: '10.0.1'})
    expect(runCount()).toBe(3)
    // Same size and contents, another modification time: probed anew too.
    utimesSync(perf, new Date(), new Date(Date.now() + 5000))
    expect((await perfTool(cache)).cached).toBeUndefined()
    expect(runCount()).toBe(4)
  })

  it('never caches a perf that fails, nor a missing one', async () => {
    const cache = new MemoryCache()
    install('echo "perf not found for kernel 9.9" >&2; exit 1')
    expect(await perfTool(cache)).toMatchObject({status: 'unavailable', detail: 'perf not found for kernel 9.9'})
    expect(await perfTool(cache)).not.toHaveProperty('cached')
    expect(cache.saved.has('perf-tool')).toBe(false)
    rmSync(perf)
    expect(await perfTool(cache)).toMatchObject({status: 'unavailable', detail: 'no perf in PATH'})
    expect(cache.saved.has('perf-tool')).toBe(false)
  })
})

describe('the build in the cache key', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'diag-build-'))
  afterAll(() => rmSync(root, {recursive: true, force: true}))

  it('is the bundle\'s build id, not a look at each of its files', () => {
    const bundle = path.join(root, 'bundle')
    const chunks = path.join(bundle, 'chunks')
    mkdirSync(chunks, {recursive: true})
    for (const name of ['a.js', 'a.js.map', 'b.js']) writeFileSync(path.join(chunks, name), name)
    writeFileSync(path.join(bundle, BUILD_ID_FILE), 'id-1\n')
    expect(probeCode(chunks, bundle)).toEqual({files: [], id: 'id-1'})
    const first = diagBuild(chunks, bundle)
    appendFileSync(path.join(chunks, 'a.js.map'), 'more')
    expect(diagBuild(chunks, bundle)).toBe(first)
    writeFileSync(path.join(bundle, BUILD_ID_FILE), 'id-2\n')
    expect(diagBuild(chunks, bundle)).not.toBe(first)
  })

  it('is every file of the probe code where there is no bundle or no build id', () => {
    const bundle = path.join(root, 'unbundled')
    const probe = path.join(root, 'src', 'probe')
    mkdirSync(path.join(probe, 'table'), {recursive: true})
    writeFileSync(path.join(probe, 'probe.js'), '1')
    writeFileSync(path.join(probe, 'table', 'bpf.js'), '1')
    expect(probeCode(probe, bundle).files.sort()).toEqual([path.join(probe, 'probe.js'), path.join(probe, 'table', 'bpf.js')])
    const first = diagBuild(probe, bundle)
    writeFileSync(path.join(probe, 'table', 'bpf.js'), '22')
    expect(diagBuild(probe, bundle)).not.toBe(first)
    // A bundle that lost its id falls back to its files.
    const noId = path.join(root, 'bundle-no-id')
    mkdirSync(path.join(noId, 'chunks'), {recursive: true})
    writeFileSync(path.join(noId, 'chunks', 'c.js'), 'c')
    expect(probeCode(path.join(noId, 'chunks'), noId).files).toEqual([path.join(noId, 'chunks', 'c.js')])
  })
})

describe.skipIf(!isRoot)('the cache file (needs root: it trusts only files root owns)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-cache-'))
  const file = path.join(dir, 'probes.json')
  afterAll(() => rmSync(dir, {recursive: true, force: true}))
  const outcomes = new Map<string, Outcome>([
    ['bpf-tracepoint', available('probe', 'loaded and attached')],
    ['bpf-fentry', unavailable('probe', 'load refused: EPERM')],
  ])

  it('reads back what it wrote, for this boot and build only', async () => {
    chmodSync(dir, 0o755)
    await new FileProbeCache(dir).save(outcomes)
    expect(await new FileProbeCache(dir).load()).toEqual(outcomes)
    const written = JSON.parse(readFileSync(file, 'utf8'))
    expect(written.key.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim())
    writeFileSync(file, JSON.stringify({...written, key: {...written.key, bootId: 'another boot'}}))
    expect(await new FileProbeCache(dir).load()).toBeUndefined()
  })

  it("keeps others' answers when it saves its own: a probe's save leaves a calibration's, and the reverse", async () => {
    const own = mkdtempSync(path.join(dir, 'merged-'))
    await new FileProbeCache(own).save(new Map([['tcp_sock.srtt_us', available('probe', 'calibrated against TCP_INFO', 1496)]]))
    await new FileProbeCache(own).save(outcomes)
    expect((await new FileProbeCache(own).load())?.get('tcp_sock.srtt_us')?.value).toBe(1496)
    await new FileProbeCache(own).save(outcomes, {replace: true})
    expect(await new FileProbeCache(own).load()).toEqual(outcomes)
  })

  // A runbook's steps are diag processes of their own, probing and keeping at once.
  it("a run's later answers are saved beside those another diag saved after this run's probe", async () => {
    const own = mkdtempSync(path.join(dir, 'kept-'))
    await new FileProbeCache(own).save(new Map([['earlier', available('probe', 'from an earlier run')]]))
    const host = makeFakeHost(FAKE_KERNELS['5.15'])
    try {
      const capabilities = table({}, {loads: () => available('probe', 'loaded and attached')})
      const probe = await probeHost({files: new NodeFiles(host.root), capabilities, cache: new FileProbeCache(own), bpf: () => ({ok: false, reason: 'none', tried: []})}, new UndoLog())
      await new FileProbeCache(own).save(new Map([['meanwhile', available('probe', 'from a parallel step')]]))
      await probe.answers!.keep(new Map([['tcp_sock.srtt_us', available('probe', 'calibrated against TCP_INFO', 1496)]]))
      expect(probe.answers!.get('tcp_sock.srtt_us')?.value).toBe(1496)
    } finally {
      host.remove()
    }
    expect([...((await new FileProbeCache(own).load()) ?? new Map()).keys()].sort()).toEqual(['earlier', 'loads', 'meanwhile', 'tcp_sock.srtt_us'])
  })

  it('ignores a file that another user owns or others may write', async () => {
    await new FileProbeCache(dir).save(outcomes)
    chmodSync(file, 0o666)
    expect(await new FileProbeCache(dir).load()).toBeUndefined()
    chmodSync(file, 0o644)
    chownSync(file, 65534, 65534)
    expect(await new FileProbeCache(dir).load()).toBeUndefined()
    chownSync(file, 0, 0)
    expect(await new FileProbeCache(dir).load()).toEqual(outcomes)
  })
})
