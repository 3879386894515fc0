import type {CapabilitiesReport} from '../plan/report.js'
import {type HostOutcome, answeredExitCode} from './fleet.js'

/** Hosts whose kernels answer alike: same release, same capabilities, same route for every tool. */
export interface ProfileGroup {
  hosts: string[]
  release: string
  /** The features that tell kernels apart, said as "BTF" or "no BTF". */
  features: string[]
  /** Tool -> the candidate it would run on there, or null when none can. */
  tools: Record<string, string | null>
  available: string[]
}

export interface FleetCapabilities {
  schema: 'diag/fleet-capabilities'
  schemaVersion: 1
  generatedAt: string
  bundle: {version: string; sha256: string}
  /** 0 when every host answered, else 9 as for `fleet run`: a host without an answer is never a pass. */
  exitCode: number
  groups: ProfileGroup[]
  errors: {host: string; stage: string; message: string}[]
  hosts: ({name: string; destination: string; ok: true; copied: boolean; removed: string[]; seconds: number; report: CapabilitiesReport} | {name: string; destination: string; ok: false; seconds: number; error: {stage: string; message: string}})[]
}

// What an operator first wants to know of a kernel, in this order.
const FEATURES: [capability: string, label: string][] = [
  ['bpf-syscall', 'BPF'],
  ['btf', 'BTF'],
  ['bpf-fentry', 'fentry'],
  ['bpf-kprobe', 'BPF kprobes'],
  ['kprobe-events', 'kprobe events'],
  ['hist-triggers', 'hist triggers'],
  ['function-profiler', 'function profiler'],
]

export function profileOf(report: CapabilitiesReport): Omit<ProfileGroup, 'hosts'> {
  const status = new Map(report.capabilities.map((c) => [c.name, c.status]))
  const features = FEATURES.map(([name, label]) => (status.get(name) === 'available' ? label : status.get(name) === 'unavailable' ? `no ${label}` : `${label}?`))
  return {
    release: report.host.kernel?.release ?? 'unknown release',
    features,
    tools: Object.fromEntries(report.tools.map((t) => [t.tool, t.chosen?.id ?? null])),
    available: report.capabilities.filter((c) => c.status === 'available').map((c) => c.name),
  }
}

export function fleetCapabilities(outcomes: HostOutcome<CapabilitiesReport>[], bundle: {version: string; sha256: string}, now: Date): FleetCapabilities {
  const errors = outcomes.flatMap((o) => (o.ok ? [] : [{host: o.host.name, ...o.error}]))
  const groups = new Map<string, ProfileGroup>()
  for (const outcome of outcomes) {
    if (!outcome.ok) continue
    const profile = profileOf(outcome.value)
    const key = JSON.stringify(profile)
    const group = groups.get(key) ?? {hosts: [], ...profile}
    group.hosts.push(outcome.host.name)
    groups.set(key, group)
  }
  return {
    schema: 'diag/fleet-capabilities',
    schemaVersion: 1,
    generatedAt: now.toISOString(),
    bundle,
    exitCode: answeredExitCode(outcomes),
    // The commonest profile first.
    groups: [...groups.values()].sort((a, b) => b.hosts.length - a.hosts.length),
    errors,
    hosts: outcomes.map((o) =>
      o.ok
        ? {name: o.host.name, destination: o.host.destination, ok: true as const, copied: o.copied, removed: o.removed ?? [], seconds: o.seconds, report: o.value}
        : {name: o.host.name, destination: o.host.destination, ok: false as const, seconds: o.seconds, error: o.error},
    ),
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

/** The matrix as text: one block per profile, then the hosts that gave no answer. */
export function renderFleetCapabilities(fleet: FleetCapabilities): string {
  const out: string[] = []
  for (const group of fleet.groups) {
    const tools = Object.entries(group.tools).map(([tool, id]) => `${tool} ${id ?? 'none'}`)
    out.push(`${plural(group.hosts.length, 'host')}: ${group.release} with ${group.features.join(', ')}: ${tools.join(', ')}`)
    out.push(`  ${group.hosts.join(' ')}`)
  }
  if (fleet.errors.length > 0) {
    out.push(`${plural(fleet.errors.length, 'host')} without an answer:`)
    for (const error of fleet.errors) out.push(`  ${error.host}: ${error.stage} failed: ${error.message}`)
  }
  return out.join('\n')
}
