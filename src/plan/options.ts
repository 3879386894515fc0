/** What every tool's options share; each tool's own options type is in its module (tools/<name>/tool.ts). */
export interface ToolOptions {
  /** Only this process (--pid); tools that measure the whole system leave it unset. */
  pid?: number
}

export const UNIT_NS = {nsecs: 1, usecs: 1_000, msecs: 1_000_000} as const
