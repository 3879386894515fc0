import type {BpfAddonLoad} from '../system/bpf-addon.js'
import type {HostFiles} from '../system/files.js'
import type {UndoLog} from '../system/undo.js'
import type {KernelConfig} from './kernel-config.js'
import type {KernelVersion} from './kernel-version.js'

/** Only available and unavailable are conclusive; unknown means the probe could not tell. */
export type Status = 'available' | 'unavailable' | 'unknown'

/**
 * What the status rests on, strongest first: `probe` (diag tried it), `file` (the kernel's own
 * interface file is there or not), `config` (the kernel config says so), `version` (only the
 * release number; the weakest, since distros backport), `not-run` (nothing to go on).
 */
export type Evidence = 'probe' | 'file' | 'config' | 'version' | 'not-run'

export type Section = 'tracefs' | 'bpf' | 'perf' | 'privileges'

export interface Outcome {
  status: Status
  evidence: Evidence
  /** What a person can act on: an errno name, a missing path, a config symbol. */
  detail: string
  /** A value the probe found, when there is one: a mount point, a sysctl, a version. */
  value?: string | number
  blockedBy?: string[]
  /** The answer of an earlier probe in this boot, from the probe cache (src/probe/cache.ts). */
  cached?: boolean
  /**
   * Set when the probe could not tell because this process lacks a privilege (status unknown, never
   * unavailable): what would let diag see it, as "root" or a capability list.
   */
  needsPrivilege?: string
}

export interface CapabilityResult extends Outcome {
  name: string
  section: Section
  description: string
  minKernel: string | null
  /** The config symbols that back this capability, as the kernel config has them. */
  config?: Record<string, string>
  /** When unavailable only because capabilities it needs are: their names. */
  blockedBy?: string[]
}

export interface ProbeContext {
  files: HostFiles
  /** False when describing a host mounted elsewhere (--host-root): nothing live may run. */
  live: boolean
  /** A kernel that is not running (--kernel-config): nothing is probed or read, all is inferred. */
  whatIf: boolean
  pid: number
  kernel: KernelVersion | undefined
  config: KernelConfig | undefined
  /** Host path of the tracing directory, once the tracefs probe has found or mounted it. */
  tracefs?: string
  /** CAP_SYS_ADMIN (root): without it an EPERM or EACCES says nothing about the kernel. */
  privileged: boolean
  /** Reverted as soon as probing ends. */
  undo: UndoLog
  /** Reverted when the command ends: for what the backends still need (a tracefs mount). */
  sessionUndo: UndoLog
  bpf(): BpfAddonLoad
  /** Lazily makes diag's private probe instance; it is removed when probing ends. */
  instance(): Promise<string>
  result(name: string): CapabilityResult | undefined
}

export interface Capability {
  name: string
  section: Section
  description: string
  /** First mainline kernel with it; null where that is not a kernel matter (a binary, a privilege). */
  minKernel: string | null
  /** Config symbols that must all be set (=y or =m) for the feature to exist. */
  config?: string[]
  /** Capabilities that must be available before this probe can mean anything. */
  needs?: string[]
  /** True when the probe must act on the running kernel (write tracefs, load BPF, open events). */
  live: boolean
  /**
   * True when a conclusive answer of the live probe holds until the next boot (whether a program
   * type loads and attaches, a map type exists), so that it may be cached per boot: not for files
   * and sysctls that change while the kernel runs, nor for probes whose side effects a run needs.
   */
  stableForBoot?: boolean
  /**
   * For a probe whose "available" holds while something outside the kernel stays as it is (an
   * installed program): that thing's identity (its path, device, inode, size and mtime), or
   * undefined when there is none (then it is probed). An available answer is cached for the boot
   * with it and reused only while the identity is the same; other answers are not cached, since a
   * failure may lie beyond the file (a wrapper script's missing target).
   */
  stableWhile?: (ctx: ProbeContext) => Promise<string | undefined> | string | undefined
  /**
   * Set for what the running host decides rather than its kernel build (a sysctl, the process's
   * privileges, an installed program): what it is. A what-if from a config file cannot tell these.
   */
  setAtRunTime?: string
  probe(ctx: ProbeContext): Promise<Outcome> | Outcome
}

export const available = (evidence: Evidence, detail: string, value?: string | number): Outcome => ({
  status: 'available',
  evidence,
  detail,
  ...(value === undefined ? {} : {value}),
})

export const unavailable = (evidence: Evidence, detail: string, value?: string | number): Outcome => ({
  status: 'unavailable',
  evidence,
  detail,
  ...(value === undefined ? {} : {value}),
})

export const unknown = (evidence: Evidence, detail: string): Outcome => ({status: 'unknown', evidence, detail})

/** What an unprivileged diag is told it lacks, where a refusal (EPERM, EACCES) may be only its own. */
export const PRIVILEGE_HINT = 'root, or CAP_BPF and CAP_PERFMON (kernel 5.8+), for bpf() and perf_event_open()'

export const needsPrivilege = (evidence: Evidence, detail: string, what = PRIVILEGE_HINT): Outcome => ({
  ...unknown(evidence, detail),
  needsPrivilege: what,
})
