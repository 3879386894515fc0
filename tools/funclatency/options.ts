import type {ToolOptions} from '../../src/plan/options.js'
import type {TimeUnit} from '../../src/result/model.js'

export interface FunclatencyOptions extends ToolOptions {
  /** A glob over kernel function names, checked (checkFunctionPattern) when parsed. */
  pattern: string
  unit: TimeUnit
}

export const NS_PER_UNIT: Record<TimeUnit, number> = {nsecs: 1, usecs: 1_000, msecs: 1_000_000}
