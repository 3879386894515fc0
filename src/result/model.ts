import type {BackendName} from '../plan/tool.js'

/**
 * The one result model every backend's output is normalized into: what `--json` prints (see
 * schema/result.schema.json) and what the text rendering reads. Only the `backend` fields and the
 * numbers depend on which backend ran.
 */
export const RESULT_SCHEMA_VERSION = 1

/** Event counts by key: syscalls by name, processes, kernel functions. */
export interface Counts {
  kind: 'counts'
  /** What a key names: "syscall", "process", "function". */
  key: string
  rows: {key: string; count: number}[]
}

export type TimeUnit = 'nsecs' | 'usecs' | 'msecs'

/** A log2 histogram: bucket i holds values in [2^i, 2^(i+1) - 1], bucket 0 holds 0 and 1. */
export interface Histogram {
  /** null for the whole system; a disk or another grouping otherwise. */
  label: string | null
  buckets: {low: number; high: number; count: number}[]
  count: number
}

export interface Histograms {
  kind: 'histograms'
  unit: TimeUnit
  /** What a histogram's label names, when there is more than one: "disk". */
  labelKey: string | null
  histograms: Histogram[]
}

/** Per-function hits and time, as the ftrace function profiler's trace_stat table has them. */
export interface Profile {
  kind: 'profile'
  rows: {function: string; hits: number; totalUs: number; avgUs: number; varianceUs2: number}[]
}

/** One column of a rows result, in print order: the row's key, bcc's title, the value's type. */
export interface RowColumn {
  name: string
  title: string
  type: 'string' | 'integer' | 'number' | 'time'
  unit?: 'ms' | 'us' | 'ns'
}

/** A row: one event, by column name. A `time` column holds an ISO 8601 date. */
export type Row = Record<string, string | number | null>

/**
 * Events as they happen (gethostlatency's lookups): the rows stream out while tracing (text
 * lines, or NDJSON lines under --json), so the result's intervals hold none, only their count.
 */
export interface Rows {
  kind: 'rows'
  columns: RowColumn[]
  rows: Row[]
  /** Rows printed in the interval (they are not kept in it). */
  count: number
}

export type ResultData = Counts | Histograms | Profile | Rows

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
