import type {BackendName} from '../plan/tool.js'
import type {Counts} from './kinds/counts.js'
import type {Histograms} from './kinds/histograms.js'
import type {Profile} from './kinds/profile.js'
import type {Rows} from './kinds/rows.js'
import type {Stacks} from './kinds/stacks.js'
import type {Table} from './kinds/table.js'

/**
 * The one result model every backend's output is normalized into: what `--json` prints (see
 * schema/result.schema.json) and what the text rendering reads. Only the `backend` fields and the
 * numbers depend on which backend ran.
 */
export const RESULT_SCHEMA_VERSION = 1

// Each output kind owns its type (src/result/kinds/): a result's data is one of them.
export type {Counts} from './kinds/counts.js'
export type {Histogram, Histograms, TimeUnit} from './kinds/histograms.js'
export type {Profile, ProfileRow} from './kinds/profile.js'
export type {Row, RowColumn, RowValue, Rows} from './kinds/rows.js'
export type {Stack, Stacks} from './kinds/stacks.js'
export type {Table} from './kinds/table.js'

export type ResultData = Counts | Histograms | Profile | Rows | Table | Stacks

export interface Interval {
  /** When the interval ended. */
  time: string
  seconds: number
  data: ResultData
}

/**
 * A candidate before the one that ran. `routing`: the probe or the options ruled it out (or
 * --backend asked for another). `start`: it was chosen, failed while loading or attaching, before
 * counting anything, and what it had done was undone before the next one started.
 */
export interface PassedOver {
  candidate: string
  stage: 'routing' | 'start'
  reasons: string[]
}

export interface ToolResult {
  schema: 'diag/result'
  schemaVersion: number
  tool: string
  backend: {
    name: BackendName
    candidate: string
    method: string
    /** The attach points that ran: "tracepoint raw_syscalls:sys_enter". */
    attach: string
    /**
     * BPF backends only: whether the kernel JIT-compiles the programs (net.core.bpf_jit_enable);
     * false means they run in the interpreter, null that it could not be read.
     */
    jit?: boolean | null
  }
  /** Why this backend: the route's sentence and every candidate passed over with its reasons. */
  route: {why: string; passedOver: PassedOver[]}
  kernel: string | null
  startedAt: string
  seconds: number
  /** The command diag ran and traced (`diag TOOL -- command`), with its exit status. */
  command: {argv: string[]; exitCode: number | null} | null
  /** Events the backend lost (full maps, ring-buffer overruns); null when it cannot tell. */
  lost: number | null
  intervals: Interval[]
}
