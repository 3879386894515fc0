import {readFileSync} from 'node:fs'
import {gzipSync} from 'node:zlib'

import {describe, expect, it} from 'vitest'

import {capabilitiesReport} from '../../src/plan/report.js'
import {parseKernelConfig, parseKernelConfigBytes} from '../../src/probe/kernel-config.js'
import {probeHost} from '../../src/probe/probe.js'
import type {HostFiles} from '../../src/system/files.js'
import {UndoLog} from '../../src/system/undo.js'
import {diag, diagJson} from '../helpers/cli.js'
import {schemaErrors} from '../helpers/schema.js'

const KERNELS = '/work/shared/kernels'
const configPath = (kernel: string) => `${KERNELS}/${kernel}/config`

/** A host whose every file access fails the test: a what-if reads nothing of the machine it runs on. */
const untouchable: HostFiles = new Proxy({root: '/'} as HostFiles, {
  get(_target, key) {
    if (key === 'root') return '/'
    return () => {
      throw new Error(`a what-if touched the host: ${String(key)}`)
    }
  },
})

async function whatIf(kernel: string, release?: string) {
  const config = parseKernelConfig(readFileSync(configPath(kernel), 'utf8'), configPath(kernel))
  const probe = await probeHost(
    {
      whatIf: {config, release: release ?? config.version!},
      files: untouchable,
      bpf: () => {
        throw new Error('a what-if loaded the addon')
      },
    },
    new UndoLog(),
  )
  const report = capabilitiesReport(probe, new Date())
  const capability = (name: string) => report.capabilities.find((c) => c.name === name)!
  const chosen = (tool: string) => report.tools.find((t) => t.tool === tool)!.chosen?.id
  return {report, capability, chosen}
}

describe('what-if: capabilities of a kernel that is not running, from its config (lab kernels)', () => {
  it('reads the release from the config header, plain or gzipped', () => {
    const text = readFileSync(configPath('debian-6.1-cloud'))
    expect(parseKernelConfigBytes(text, 'x').version).toBe('6.1.176')
    expect(parseKernelConfigBytes(gzipSync(text), 'x').symbols.get('DEBUG_INFO_BTF')).toBe('y')
  })

  it('marks every answer as inferred: config or version, or not run, never probe or file', async () => {
    for (const kernel of ['linux-4.9', 'nobpf-6.1', 'debian-6.1-cloud']) {
      const {report} = await whatIf(kernel)
      expect(report.host).toMatchObject({live: false, whatIf: true, hostname: null})
      expect(schemaErrors('capabilities', report)).toBe('')
      for (const c of report.capabilities) expect(['config', 'version', 'not-run'], `${kernel} ${c.name}`).toContain(c.evidence)
      // What the running host sets (sysctls, privileges, installed programs) no config can tell.
      expect(report.capabilities.find((c) => c.name === 'perf-event-paranoid')!.status).toBe('unknown')
    }
  })

  it('nobpf-6.1: no BPF at all; syscount on the hist trigger, funcprofile on the function profiler', async () => {
    const {capability, chosen} = await whatIf('nobpf-6.1')
    expect(capability('bpf-syscall')).toMatchObject({status: 'unavailable', evidence: 'config'})
    expect(capability('bpf-syscall').detail).toContain('CONFIG_BPF_SYSCALL is not set')
    expect(capability('bpf-tracepoint').status).toBe('unavailable')
    expect(capability('function-profiler')).toMatchObject({status: 'available', evidence: 'config'})
    expect(chosen('syscount')).toBe('ftrace-hist')
    expect(chosen('funcprofile')).toBe('ftrace-profiler')
    expect(chosen('biolatency')).toBe('ftrace-hist')
  })

  it('linux-4.9: BPF tracepoints and kprobes, but no BTF, no ring buffer, no raw tracepoints, no global data', async () => {
    const {capability, chosen} = await whatIf('linux-4.9')
    expect(capability('bpf-tracepoint')).toMatchObject({status: 'available', evidence: 'config'})
    expect(capability('btf')).toMatchObject({status: 'unavailable', evidence: 'version'})
    expect(capability('bpf-map-ringbuf')).toMatchObject({status: 'unavailable', evidence: 'version'})
    expect(capability('bpf-raw-tracepoint').status).toBe('unavailable')
    expect(capability('bpf-global-data').status).toBe('unavailable')
    expect(capability('synthetic-events').status).toBe('unavailable')
    expect(chosen('syscount')).toBe('bpf-tracepoint')
    expect(chosen('funccount')).toBe('bpf-kprobe')
  })

  it('debian-6.1-cloud: BTF, tp_btf and fentry; no function profiler, no kprobe_multi (no fprobe)', async () => {
    const {capability, chosen} = await whatIf('debian-6.1-cloud')
    expect(capability('btf')).toMatchObject({status: 'available', evidence: 'config'})
    expect(capability('bpf-fentry')).toMatchObject({status: 'available', evidence: 'config'})
    expect(capability('bpf-map-ringbuf').status).toBe('available')
    expect(capability('function-profiler')).toMatchObject({status: 'unavailable', evidence: 'config'})
    expect(capability('bpf-kprobe-multi')).toMatchObject({status: 'unavailable', evidence: 'config'})
    expect(chosen('syscount')).toBe('bpf-tp-btf')
    expect(chosen('funccount')).toBe('bpf-fentry')
  })

  it('--release overrides the header: the same config as 4.19 has raw tracepoints but no BTF', async () => {
    const {capability} = await whatIf('linux-4.9', '4.19.0')
    expect(capability('bpf-raw-tracepoint').status).toBe('available')
    expect(capability('btf').status).toBe('unavailable')
  })

  it('the command: --kernel-config FILE --release, JSON by the schema; bad input is a typed error', async () => {
    const run = await diagJson<{host: {whatIf: boolean; kernel: {release: string}}}>(['capabilities', '--kernel-config', configPath('nobpf-6.1'), '--release', '6.1.0'])
    expect(run.exitCode).toBe(0)
    expect(run.json.host).toMatchObject({whatIf: true, kernel: {release: '6.1.0'}})
    const text = await diag(['capabilities', '--kernel-config', configPath('linux-4.9')])
    expect(text.stdout).toContain('What-if for a kernel that is not running')
    const notConfig = await diag(['capabilities', '--kernel-config', '/etc/hostname'])
    expect(notConfig.exitCode).toBe(2)
    expect(notConfig.stderr).toContain('not a kernel config')
    expect(notConfig.stderr).not.toMatch(/\n\s+at /)
  }, 60_000)
})
