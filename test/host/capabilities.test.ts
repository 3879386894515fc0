import {existsSync, readFileSync, statSync} from 'node:fs'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CapabilitiesReport} from '../../src/plan/report.js'
import {CAPABILITIES} from '../../src/probe/table/index.js'
import {diag, diagJson} from '../helpers/cli.js'
import {expectedFromConfig, fentryWorks, functionFilterWorks, hostConfig} from '../helpers/ground-truth.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'

const config = hostConfig()

describe.skipIf(!isRoot)('diag capabilities on this host (needs root)', () => {
  let before: KernelState
  let report: CapabilitiesReport
  let byName: Map<string, CapabilitiesReport['capabilities'][number]>

  beforeAll(async () => {
    before = await kernelState()
    // --refresh: the ground truth below is checked against real probes, not this boot's cache.
    const run = await diagJson<CapabilitiesReport>(['capabilities', '--refresh'])
    expect(run.exitCode, run.stderr).toBe(0)
    report = run.json
    byName = new Map(report.capabilities.map((c) => [c.name, c]))
  })

  afterAll(async () => {
    // Whatever the probes made is gone, and tracefs is mounted exactly if it was before.
    expect(await kernelState()).toEqual(before)
  })

  it('prints JSON that the committed schema accepts', () => {
    expect(schemaErrors('capabilities', report)).toBe('')
    expect(report.capabilities.map((c) => c.name)).toEqual(CAPABILITIES.map((c) => c.name))
    expect(report.warnings).toEqual([])
  })

  it('then answers from the per-boot cache what the probes said, and says so', async () => {
    expect(report.capabilities.some((c) => c.cached)).toBe(false)
    const again = await diagJson<CapabilitiesReport>(['capabilities'])
    expect(again.exitCode, again.stderr).toBe(0)
    expect(schemaErrors('capabilities', again.json)).toBe('')
    const cachedNames = again.json.capabilities.filter((c) => c.cached).map((c) => c.name)
    const stable = CAPABILITIES.filter((c) => c.stableForBoot || c.stableWhile).map((c) => c.name)
    expect(cachedNames.length).toBeGreaterThan(0)
    for (const name of cachedNames) expect(stable).toContain(name)
    // A perf that told its version is not started again while its file is the same.
    if (byName.get('perf-tool')?.status === 'available') expect(cachedNames).toContain('perf-tool')
    const status = (r: CapabilitiesReport) => r.capabilities.map((c) => `${c.name} ${c.status}`)
    expect(status(again.json)).toEqual(status(report))
    expect(statSync('/run/diag/probes.json').mode & 0o022).toBe(0)
  })

  it('really probes the running kernel: every live capability rests on a probe or a file', () => {
    for (const capability of CAPABILITIES.filter((c) => c.live && c.section !== 'privileges')) {
      const result = byName.get(capability.name)!
      expect(['probe', 'file'], `${capability.name}: ${result.evidence} ${result.detail}`).toContain(result.evidence)
    }
  })

  it.skipIf(!config)('agrees with the kernel config on what is compiled in', () => {
    const expectations = expectedFromConfig(config!).map(([name, expected]): [string, boolean] =>
      // The running kernel's BTF is a file to look at, not only a config symbol.
      name === 'btf' ? [name, existsSync('/sys/kernel/btf/vmlinux')] : [name, expected],
    )
    for (const [name, expected] of expectations) {
      const result = byName.get(name)!
      expect(result.status, `${name}: ${result.detail}`).toBe(expected ? 'available' : 'unavailable')
    }
  })

  it('says the function tracer works exactly when a filter can be set', async () => {
    const truth = await functionFilterWorks()
    const result = byName.get('function-tracer')!
    expect(result.status, result.detail).toBe(truth ? 'available' : 'unavailable')
    if (!truth) expect(result.detail).toMatch(/E[A-Z]+/)
  })

  it('says fentry works exactly when bpftrace can attach a kfunc probe', async (context) => {
    const truth = await fentryWorks()
    if (typeof truth === 'string') return context.skip(`no independent fentry check: ${truth}`)
    const result = byName.get('bpf-fentry')!
    expect(result.status, result.detail).toBe(truth ? 'available' : 'unavailable')
  })

  it('says whether the BPF JIT is on as net.core.bpf_jit_enable does, read by the test', () => {
    const sysctl = readFileSync('/proc/sys/net/core/bpf_jit_enable', 'utf8').trim()
    const result = byName.get('bpf-jit')!
    expect(result, result.detail).toMatchObject({status: sysctl === '0' ? 'unavailable' : 'available', evidence: 'file', value: Number(sysctl)})
  })

  it('gives every rejected candidate a reason that names an unmet need or a missing runner', () => {
    for (const tool of report.tools) {
      for (const candidate of tool.candidates.filter((c) => !c.usable)) {
        expect(candidate.reasons.length, `${tool.tool}/${candidate.id}`).toBeGreaterThan(0)
        for (const reason of candidate.reasons) {
          const need = candidate.needs.find((n) => reason.startsWith(`${n} `))
          if (need) expect(byName.get(need)!.status).not.toBe('available')
          else expect(reason).toMatch(/not implemented/)
        }
      }
      const chosen = tool.candidates.filter((c) => c.chosen)
      expect(chosen.length).toBe(tool.chosen ? 1 : 0)
      if (tool.chosen) expect(tool.candidates.findIndex((c) => c.chosen)).toBe(tool.candidates.findIndex((c) => c.usable))
    }
  })

  it('renders a readable report with every section', async () => {
    const run = await diag(['capabilities'])
    expect(run.exitCode, run.stderr).toBe(0)
    for (const title of ['Tracing file system', 'perf events', 'BPF', 'Privileges', 'Routing']) expect(run.stdout).toContain(title)
    expect(run.stdout).toMatch(/^\s+bpf-syscall\s+[+-] (yes|no)\s+probe(, cached)?\s+/m)
  })

  it('with --host-root / describes the same kernel without acting on it', async () => {
    const run = await diagJson<CapabilitiesReport>(['capabilities', '--host-root', '/'])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json.host.live).toBe(false)
    expect(run.json.host.kernel).toEqual(report.host.kernel)
    for (const capability of CAPABILITIES.filter((c) => c.live)) {
      const result = run.json.capabilities.find((c) => c.name === capability.name)!
      expect(result.evidence, capability.name).not.toBe('probe')
    }
  })
})
