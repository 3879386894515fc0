import type {TimeUnit} from '../result/model.js'

/** Each tool's own options, as its command parses them and its backends read them. */
export interface SyscountOptions {
  by: 'syscall' | 'process'
  pid?: number
  top: number
  /** Only these syscalls (by name), when given. */
  syscalls?: ReadonlySet<string>
}

export interface BiolatencyOptions {
  unit: Extract<TimeUnit, 'usecs' | 'msecs'>
  disks: boolean
  queued: boolean
}

export interface RunqlatOptions {
  unit: Extract<TimeUnit, 'usecs' | 'msecs'>
}

export interface FunccountOptions {
  pattern: string
  pid?: number
  top: number
}

export interface FuncprofileOptions {
  pattern: string
  top: number
}

export const UNIT_NS = {usecs: 1_000, msecs: 1_000_000} as const
