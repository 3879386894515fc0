import {readFileSync} from 'node:fs'

import Ajv from 'ajv'
import addFormats from 'ajv-formats'
import {beforeAll, describe, expect, it} from 'vitest'

import type {CapabilitiesReport} from '../../src/plan/report.js'
import {configured, expectedFromConfig} from '../helpers/ground-truth.js'
import {LAB_KERNELS, type LabBoot, type LabCase, bootLab, labConfig, labUnavailable} from './lab.js'

const schema = JSON.parse(readFileSync(new URL('../../schema/capabilities.schema.json', import.meta.url), 'utf8'))

// What the kernel's tracing looks like after diag ran: read through a mount of diag's own.
const STATE_AFTER = [
  'grep -c " /sys/kernel/tracing " /proc/mounts',
  'mkdir -p /tmp/t && mount -t tracefs t /tmp/t',
  'echo "instances: $(ls /tmp/t/instances)"',
  'echo "kprobes: $(cat /tmp/t/kprobe_events)"',
  'echo "uprobes: $(cat /tmp/t/uprobe_events)"',
  'echo "synthetic: $(cat /tmp/t/synthetic_events)"',
  'echo "tracer: $(cat /tmp/t/current_tracer)"',
  'echo "events: $(cat /tmp/t/set_event)"',
  'echo "profiler: $(cat /tmp/t/function_profile_enabled 2>/dev/null)"',
  'umount /tmp/t',
].join('; ')

const CASES: LabCase[] = [
  {id: 'capabilities', command: 'diag capabilities --json'},
  {id: 'state-after', command: STATE_AFTER},
]

describe.each(Object.values(LAB_KERNELS))('the kernel lab: $name', (kernel) => {
  const missing = labUnavailable(kernel)
  const config = missing ? new Map<string, string>() : labConfig(kernel)
  let boot: LabBoot
  let report: CapabilitiesReport

  beforeAll(async () => {
    if (missing) return
    boot = await bootLab(kernel, CASES)
    const run = boot.results.get('capabilities')
    expect(run?.exitCode, `${run?.stderr}\n${boot.console.slice(-2000)}`).toBe(0)
    report = JSON.parse(run!.stdout)
  }, 900_000)

  it.skipIf(missing)(`reports what its config says it has${missing ? ` (skipped: ${missing})` : ''}`, () => {
    const ajv = new Ajv({allErrors: true})
    addFormats(ajv)
    expect(ajv.validate(schema, report), JSON.stringify(ajv.errors)).toBe(true)
    expect(report.host.kernel?.release).toBe(boot.release)
    const byName = new Map(report.capabilities.map((c) => [c.name, c]))
    const expectations: [string, boolean][] = [
      ...expectedFromConfig(config),
      // Nothing refuses the function tracer or fentry in the lab, unlike on the development host.
      ['function-tracer', configured(config, 'FUNCTION_TRACER', 'DYNAMIC_FTRACE')],
      ['bpf-fentry', configured(config, 'BPF_SYSCALL', 'BPF_JIT', 'DEBUG_INFO_BTF', 'DYNAMIC_FTRACE_WITH_DIRECT_CALLS')],
      ['bpf-tp-btf', configured(config, 'BPF_SYSCALL', 'BPF_EVENTS', 'DEBUG_INFO_BTF')],
      ['ftrace-instances', true],
    ]
    for (const [name, expected] of expectations) {
      const result = byName.get(name)!
      expect(result.status, `${name}: ${result.detail}`).toBe(expected ? 'available' : 'unavailable')
      expect(['probe', 'file'], `${name} must rest on a probe or a file: ${result.evidence}`).toContain(result.evidence)
    }
  })

  it.skipIf(missing)('leaves tracing as it found it: no mount, instance, probe event or tracer', () => {
    const state = boot.results.get('state-after')!
    expect(state.stdout.split('\n').map((l) => l.trimEnd())).toEqual([
      '0',
      'instances:',
      'kprobes:',
      'uprobes:',
      'synthetic:',
      'tracer: nop',
      'events:',
      configured(config, 'FUNCTION_PROFILER') ? 'profiler: 0' : 'profiler:',
      '',
    ])
  })
})
