import {release as osRelease} from 'node:os'

import {type BpfAddonLoad, loadBpfAddon} from '../system/bpf-addon.js'
import {type HostFiles, NodeFiles} from '../system/files.js'
import {type UndoFailure, UndoLog} from '../system/undo.js'
import {type KernelConfig, configVerdict, readKernelConfig} from './kernel-config.js'
import {type KernelVersion, kernelAtLeast, parseKernelRelease} from './kernel-version.js'
import {instanceName} from '../tracefs/names.js'
import {type BootAnswers, type CachedOutcome, FileProbeCache, type ProbeCache, bootAnswers} from './cache.js'
import {CAPABILITIES} from './table/index.js'
import {type Capability, type CapabilityResult, type Outcome, type ProbeContext, available, needsPrivilege, unavailable, unknown} from './types.js'

const CAP_SYS_ADMIN = 21n

/** Whether this process has CAP_SYS_ADMIN in effect (root has). */
export async function hasSysAdmin(files: HostFiles): Promise<boolean> {
  if (process.getuid?.() === 0) return true
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(await files.read('/proc/self/status').catch(() => ''))?.[1]
  return hex !== undefined && ((BigInt(`0x${hex}`) >> CAP_SYS_ADMIN) & 1n) === 1n
}

/** An EPERM or EACCES that an unprivileged process met: the kernel refused this user, not the feature. */
function refusedForLackOfPrivilege(outcome: Outcome, privileged: boolean): boolean {
  return !privileged && outcome.status === 'unavailable' && /\b(EPERM|EACCES)\b/.test(outcome.detail)
}

/** A kernel that is not running, described by its config file and release (`--kernel-config`). */
export interface WhatIf {
  config: KernelConfig
  release: string
}

export interface ProbeOptions {
  /** Describe a host whose /proc, /sys and /boot are mounted here; nothing live is run. */
  hostRoot?: string
  /** Infer everything from a config file and a release: nothing is probed and no host file read. */
  whatIf?: WhatIf
  /** Probe only these capabilities (and what they need). */
  only?: string[]
  /** Side effects, replaceable in tests. */
  files?: HostFiles
  bpf?: () => BpfAddonLoad
  pid?: number
  /** Whether diag has CAP_SYS_ADMIN; read from /proc/self/status unless given (tests). */
  privileged?: boolean
  capabilities?: Capability[]
  /** Checked between probes: a signal stops probing, and what was made is still removed. */
  signal?: AbortSignal
  /**
   * Answers of earlier probes in this boot (src/probe/cache.ts), for the capabilities marked
   * stableForBoot; live probes only. Default: the file cache in /run/diag when run as root.
   */
  cache?: ProbeCache | null
  /** Probe anew (and update the cache) instead of reusing cached answers. */
  refresh?: boolean
}

export interface HostProbe {
  kernel: KernelVersion | null
  config: {source: string} | null
  hostRoot: string
  live: boolean
  /** True for a what-if (`--kernel-config`): every answer is inferred from config and version. */
  whatIf?: boolean
  capabilities: CapabilityResult[]
  /** Host path of the tracing directory, when found, for the backends. */
  tracefs: string | undefined
  /** Steps that failed while removing what the probes made; empty when all went well. */
  cleanupFailures: UndoFailure[]
  /** This boot's cache for what runs find after probing; absent where the probe used none (not root, another host, a fake). */
  answers?: BootAnswers
}

/** The capability names to probe for `only`, with everything they need, in table order. */
function withNeeds(table: Capability[], only: string[] | undefined): Capability[] {
  if (!only) return table
  const wanted = new Set<string>()
  const add = (name: string) => {
    if (wanted.has(name)) return
    const capability = table.find((c) => c.name === name)
    if (!capability) throw new Error(`unknown capability: ${name}`)
    wanted.add(name)
    for (const need of capability.needs ?? []) add(need)
  }
  for (const name of only) add(name)
  return table.filter((c) => wanted.has(c.name))
}

/** The config symbols as evidence: all of them when they are set, only the missing ones when not. */
function configDetail(config: KernelConfig, names: string[]): string {
  const value = (n: string) => config.symbols.get(n)
  const missing = names.filter((n) => value(n) !== 'y' && value(n) !== 'm')
  if (missing.length === 0) return names.map((n) => `CONFIG_${n}=${value(n)}`).join(', ')
  return missing.map((n) => (value(n) === undefined ? `no CONFIG_${n}` : `CONFIG_${n} is not set`)).join(', ')
}

/** When a probe cannot tell (or may not run), the config and then the version decide. */
function fallback(capability: Capability, kernel: KernelVersion | undefined, config: KernelConfig | undefined, why: Outcome): Outcome {
  // What this user may not see stays unknown, unless the config says it is not built at all.
  if (why.needsPrivilege) {
    const names = capability.config ?? []
    const verdict = configVerdict(config, names)
    if (verdict === 'unset') return unavailable('config', `${configDetail(config!, names)}; ${why.detail}`)
    return verdict === 'set' ? {...why, detail: `${why.detail}; ${configDetail(config!, names)}`} : why
  }
  if (kernel && capability.minKernel && !kernelAtLeast(kernel, capability.minKernel))
    return unavailable('version', `kernel ${kernel.version} predates ${capability.minKernel}; ${why.detail}`)
  const names = capability.config ?? []
  const verdict = configVerdict(config, names)
  if (verdict === 'set') return available('config', `${configDetail(config!, names)}; ${why.detail}`)
  if (verdict === 'unset') return unavailable('config', `${configDetail(config!, names)}; ${why.detail}`)
  return why
}

/**
 * A what-if's answer: the config, then the version. Where both are silent on a kernel feature (no
 * config symbol stands for it), a release at least as new as its first kernel stands for it.
 */
function inferred(capability: Capability, kernel: KernelVersion | undefined, config: KernelConfig | undefined): Outcome {
  const names = capability.config ?? []
  if (capability.setAtRunTime) {
    if (configVerdict(config, names) === 'unset') return unavailable('config', configDetail(config!, names))
    return unknown('not-run', `set on the running host (${capability.setAtRunTime}), not by its kernel config`)
  }
  const outcome = fallback(capability, kernel, config, unknown('not-run', 'inferred, not probed'))
  if (outcome.status !== 'unknown' || !kernel || !capability.minKernel) return outcome
  const silent = names.length > 0 ? `; the config has no ${names.filter((n) => !config?.symbols.has(n)).map((n) => `CONFIG_${n}`).join(', ')}` : ''
  return available('version', `kernel ${kernel.version} is at least ${capability.minKernel}${silent}; inferred, not probed`)
}

/** The cached answer for this capability, if it holds here: for the boot, or while its identity is the same. */
function cachedAnswer(capability: Capability, cached: Map<string, CachedOutcome> | undefined, identity: string | undefined): Outcome | undefined {
  const hit = cached?.get(capability.name)
  if (!hit) return undefined
  const {identity: heldFor, ...outcome} = hit
  if (capability.stableForBoot) return outcome
  return capability.stableWhile && identity !== undefined && heldFor === identity && outcome.status === 'available' ? outcome : undefined
}

/** What the cache keeps of an answer probed in this run, if anything. */
function toCache(capability: Capability, outcome: Outcome, identity: string | undefined): CachedOutcome | undefined {
  if (outcome.cached || outcome.evidence !== 'probe') return undefined
  if (capability.stableForBoot) return outcome.status === 'unknown' ? undefined : outcome
  return identity !== undefined && outcome.status === 'available' ? {...outcome, identity} : undefined
}

async function probeOne(capability: Capability, ctx: ProbeContext, cached: Map<string, CachedOutcome> | undefined, identity: string | undefined): Promise<Outcome> {
  const unmet = (capability.needs ?? []).map((name) => ctx.result(name)!).filter((r) => r.status !== 'available')
  const fallBack = (why: Outcome) => fallback(capability, ctx.kernel, ctx.config, why)
  const hidden = unmet.find((r) => r.needsPrivilege)
  if (hidden) return fallBack(needsPrivilege('not-run', `needs ${hidden.name}, which this user may not see`, hidden.needsPrivilege))
  if (unmet.some((r) => r.status === 'unknown'))
    return fallBack(unknown('not-run', `needs ${unmet.map((r) => r.name).join(', ')}, which could not be told`))
  if (unmet.length > 0) {
    const first = unmet[0]
    const names = unmet.map((r) => r.name)
    return {...unavailable(first.evidence, `needs ${names.join(', ')} (${first.name}: ${first.detail})`), blockedBy: names}
  }
  if (ctx.whatIf) return inferred(capability, ctx.kernel, ctx.config)
  if (capability.live && !ctx.live) return fallBack(unknown('not-run', 'not probed: --host-root describes another host'))
  const hit = cachedAnswer(capability, cached, identity)
  if (hit) return {...hit, cached: true}
  let outcome: Outcome
  try {
    outcome = await capability.probe(ctx)
  } catch (error) {
    outcome = unknown('probe', `probe failed: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (refusedForLackOfPrivilege(outcome, ctx.privileged)) outcome = needsPrivilege(outcome.evidence, `${outcome.detail} (as uid ${process.getuid?.()})`)
  if (outcome.status === 'unknown') return fallBack(outcome)
  const names = capability.config ?? []
  if (outcome.status === 'unavailable' && ctx.config && configVerdict(ctx.config, names) === 'unset')
    return {...outcome, detail: `${outcome.detail}; ${configDetail(ctx.config, names)}`}
  return outcome
}

async function kernelRelease(files: HostFiles, live: boolean): Promise<string | undefined> {
  const text = await files.read('/proc/sys/kernel/osrelease').catch(() => undefined)
  return text?.trim() || (live ? osRelease() : undefined)
}

/**
 * Probes the host. Whatever the probes create (instances, probe events, BPF objects) is gone when
 * this returns; a tracefs mount made to probe stays until `sessionUndo` is unwound by the caller.
 */
export async function probeHost(options: ProbeOptions, sessionUndo: UndoLog): Promise<HostProbe> {
  const hostRoot = options.hostRoot ?? '/'
  const whatIf = options.whatIf
  const live = options.hostRoot === undefined && !whatIf
  const files = options.files ?? new NodeFiles(hostRoot)
  const pid = options.pid ?? process.pid
  const release = whatIf ? whatIf.release : await kernelRelease(files, live)
  const kernel = release ? parseKernelRelease(release) : undefined
  const config = whatIf ? whatIf.config : await readKernelConfig(files, release)
  const results = new Map<string, CapabilityResult>()
  const probeUndo = new UndoLog()
  let instance: Promise<string> | undefined

  const ctx: ProbeContext = {
    files,
    live,
    whatIf: whatIf !== undefined,
    privileged: options.privileged ?? (!live || (await hasSysAdmin(files))),
    pid,
    kernel,
    config,
    undo: probeUndo,
    sessionUndo,
    bpf: options.bpf ?? loadBpfAddon,
    result: (name) => results.get(name),
    instance() {
      instance ??= (async () => {
        const dir = `${ctx.tracefs}/instances/${instanceName(pid, 'probe')}`
        await files.mkdir(dir)
        probeUndo.push(`remove instance ${dir}`, () => files.rmdir(dir))
        return dir
      })()
      return instance
    },
  }

  const table = withNeeds(options.capabilities ?? CAPABILITIES, options.only)
  // The file cache holds the real kernel's answers: never those of a faked host or table.
  const real = options.files === undefined && options.bpf === undefined && options.capabilities === undefined
  const cache = !live ? null : options.cache !== undefined ? options.cache : real && FileProbeCache.usable() ? new FileProbeCache() : null
  const cached = cache && !options.refresh ? await cache.load() : undefined
  const probed = new Map<string, CachedOutcome>()
  let cleanupFailures: UndoFailure[]
  try {
    for (const capability of table) {
      options.signal?.throwIfAborted()
      const identity = cache && live && capability.stableWhile ? await capability.stableWhile(ctx) : undefined
      const outcome = await probeOne(capability, ctx, cached, identity)
      const kept = toCache(capability, outcome, identity)
      if (kept) probed.set(capability.name, kept)
      const configValues = capability.config && config
        ? Object.fromEntries(capability.config.map((n) => [n, config.symbols.get(n) ?? 'absent']))
        : undefined
      results.set(capability.name, {
        name: capability.name,
        section: capability.section,
        description: capability.description,
        minKernel: capability.minKernel,
        ...outcome,
        ...(configValues ? {config: configValues} : {}),
      })
    }
  } finally {
    cleanupFailures = await probeUndo.unwind()
  }
  // The cache only saves time: a run whose cache cannot be written goes on without it.
  if (cache && probed.size > 0) await cache.save(probed, {replace: options.refresh}).catch(() => {})

  return {
    kernel: kernel ?? null,
    config: config ? {source: config.source} : null,
    hostRoot,
    live,
    whatIf: whatIf !== undefined,
    capabilities: [...results.values()],
    tracefs: ctx.tracefs,
    cleanupFailures,
    ...(cache ? {answers: bootAnswers(cache, cached)} : {}),
  }
}
