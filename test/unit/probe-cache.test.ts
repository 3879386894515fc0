import {chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {FileProbeCache, type ProbeCache} from '../../src/probe/cache.js'
import {probeHost} from '../../src/probe/probe.js'
import {type Capability, type Outcome, available, unavailable, unknown} from '../../src/probe/types.js'
import {UndoLog} from '../../src/system/undo.js'
import {NodeFiles} from '../../src/system/files.js'
import {FAKE_KERNELS, makeFakeHost} from '../helpers/fake-host.js'
import {isRoot} from '../helpers/kernel-state.js'


/** A cache in memory, as the probe sees it. */
class MemoryCache implements ProbeCache {
  saved = new Map<string, Outcome>()
  async load() {
    return new Map(this.saved)
  }
  async save(outcomes: Map<string, Outcome>) {
    for (const [name, outcome] of outcomes) this.saved.set(name, outcome)
  }
}

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
