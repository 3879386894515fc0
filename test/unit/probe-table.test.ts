import {afterAll, describe, expect, it} from 'vitest'

import {probeHost} from '../../src/probe/probe.js'
import {CAPABILITIES} from '../../src/probe/table/index.js'
import type {CapabilityResult, Evidence, Status} from '../../src/probe/types.js'
import {UndoLog} from '../../src/system/undo.js'
import {FAKE_KERNELS, makeFakeHost} from '../helpers/fake-host.js'

const noAddon = () => ({ok: false as const, reason: 'no addon in unit tests', tried: []})

describe('the capability table', () => {
  it('has unique names, known sections and needs that come earlier', () => {
    const seen = new Set<string>()
    for (const capability of CAPABILITIES) {
      expect(seen.has(capability.name), capability.name).toBe(false)
      for (const need of capability.needs ?? []) expect(seen.has(need), `${capability.name} needs ${need}`).toBe(true)
      seen.add(capability.name)
    }
  })
})

type Expectation = [name: string, status: Status, evidence: Evidence]

// What diag must conclude about each kernel from its files, config and version alone.
const EXPECTED: Record<string, Expectation[]> = {
  '3.10': [
    ['bpf-jit', 'unavailable', 'config'],
    ['tracefs', 'available', 'file'],
    ['function-profiler', 'available', 'file'],
    ['hist-triggers', 'unavailable', 'file'],
    ['synthetic-events', 'unavailable', 'file'],
    ['dynamic-events', 'unavailable', 'file'],
    ['btf', 'unavailable', 'file'],
    ['bpf-syscall', 'unavailable', 'version'],
    ['kprobe-events', 'unknown', 'not-run'],
    ['ftrace-instances', 'unknown', 'not-run'],
  ],
  '4.1': [
    // No bpf_jit_enable in the tree, and a config without BPF_JIT: the interpreter.
    ['bpf-jit', 'unavailable', 'config'],
    ['tracefs', 'available', 'file'],
    ['hist-triggers', 'unavailable', 'file'],
    ['bpf-syscall', 'available', 'config'],
    ['bpf-kprobe', 'available', 'config'],
    ['bpf-tracepoint', 'unavailable', 'version'],
    ['bpf-map-ringbuf', 'unavailable', 'version'],
    ['btf', 'unavailable', 'file'],
  ],
  '4.4': [
    ['hist-triggers', 'unavailable', 'file'],
    ['bpf-tracepoint', 'unavailable', 'version'],
    ['bpf-map-percpu-hash', 'unavailable', 'version'],
  ],
  '4.9': [
    ['hist-triggers', 'available', 'file'],
    ['synthetic-events', 'unavailable', 'file'],
    ['bpf-tracepoint', 'available', 'config'],
    ['bpf-perf-event', 'available', 'config'],
    ['bpf-raw-tracepoint', 'unavailable', 'version'],
    ['bpf-global-data', 'unavailable', 'version'],
    ['bpf-helper-probe-read', 'available', 'config'],
    ['hist-buckets', 'unavailable', 'file'],
    ['bpf-jit', 'unavailable', 'file'],
  ],
  '4.18': [
    ['tracefs', 'available', 'file'],
    ['synthetic-events', 'available', 'file'],
    ['kprobe-events', 'available', 'config'],
    ['btf', 'unavailable', 'file'],
    ['bpf-fentry', 'unavailable', 'file'],
    ['bpf-tp-btf', 'unavailable', 'file'],
    ['dynamic-events', 'unavailable', 'file'],
    ['bpf-jit', 'unknown', 'file'],
  ],
  '5.15': [
    ['btf', 'available', 'file'],
    ['dynamic-events', 'available', 'file'],
    ['hist-buckets', 'available', 'file'],
    ['bpf-fentry', 'available', 'config'],
    ['bpf-kprobe-multi', 'unavailable', 'version'],
    ['bpf-map-ringbuf', 'available', 'config'],
    ['bpf-global-data', 'available', 'config'],
    ['perf-tool', 'unknown', 'not-run'],
    ['function-tracer', 'available', 'config'],
    ['bpf-jit', 'available', 'file'],
  ],
}

describe.each(Object.keys(EXPECTED))('a host tree of kernel %s (--host-root)', (version) => {
  const host = makeFakeHost(FAKE_KERNELS[version])
  afterAll(host.remove)

  it('is described from its files, config and version, and runs nothing live', async () => {
    const undo = new UndoLog()
    const probe = await probeHost({hostRoot: host.root, bpf: noAddon}, undo)
    expect(undo.size).toBe(0)
    expect(probe.live).toBe(false)
    expect(probe.kernel?.version.startsWith(version)).toBe(true)
    const byName = new Map(probe.capabilities.map((c) => [c.name, c]))
    for (const [name, status, evidence] of EXPECTED[version]) {
      const result = byName.get(name) as CapabilityResult
      expect({name, status: result.status, evidence: result.evidence}, result.detail).toEqual({name, status, evidence})
    }
    // Nothing that needs the running kernel may claim to have been probed.
    for (const result of probe.capabilities) {
      const capability = CAPABILITIES.find((c) => c.name === result.name)!
      if (capability.live) expect(result.evidence, result.name).not.toBe('probe')
    }
  })
})

describe('a host tree without tracing mounted', () => {
  const host = makeFakeHost({...FAKE_KERNELS['5.15'], tracing: 'none'})
  afterAll(host.remove)

  it('falls back to the config and says why', async () => {
    const probe = await probeHost({hostRoot: host.root, bpf: noAddon}, new UndoLog())
    const tracefs = probe.capabilities.find((c) => c.name === 'tracefs')!
    expect(tracefs).toMatchObject({status: 'available', evidence: 'config'})
    expect(tracefs.detail).toMatch(/not mounted/)
    expect(probe.tracefs).toBeUndefined()
  })
})
