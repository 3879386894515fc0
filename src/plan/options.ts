import type {TimeUnit} from '../result/model.js'

/** Each tool's own options, as its command parses them and its backends read them. */
export interface ToolOptions {
  /** Only this process (--pid); tools that measure the whole system leave it unset. */
  pid?: number
}

export interface SyscountOptions extends ToolOptions {
  /** process: a thread group (tgid, what ps calls a process); thread: each thread by its own id. */
  by: 'syscall' | 'process' | 'thread'
  top: number
  /** Only these syscalls (by name), when given. */
  syscalls?: ReadonlySet<string>
}

export interface BiolatencyOptions extends ToolOptions {
  unit: Extract<TimeUnit, 'usecs' | 'msecs'>
  disks: boolean
  queued: boolean
}

export interface RunqlatOptions extends ToolOptions {
  unit: Extract<TimeUnit, 'usecs' | 'msecs'>
}

export interface FunccountOptions extends ToolOptions {
  pattern: string
  top: number
}

export interface FuncprofileOptions extends ToolOptions {
  pattern: string
  top: number
}

export const UNIT_NS = {usecs: 1_000, msecs: 1_000_000} as const
