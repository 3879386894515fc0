import type {TextStyle} from '../../render/style.js'

/** A JSON Schema (draft-07) fragment, as plain data. */
export type JsonSchema = {[key: string]: unknown}

/** What a runbook's count metrics read from a kind: events counted and rows, of one key or all. */
export interface Tally {
  events: number
  rows: number
}

/** A Prometheus sample a kind gives for the runbook's metrics report. */
export interface Sample {
  name: string
  type: 'counter' | 'gauge' | 'histogram'
  help: string
  /** Labels beyond the step's own (host, runbook, step, tool, backend). */
  labels: Record<string, string>
  /** Added to the family name: "_bucket", "_count"; empty for a plain sample. */
  suffix?: string
  value: number
}

/**
 * An output kind: the shape of a tool's result data (one interval of it), and everything that
 * depends only on that shape. src/result/kinds/index.ts holds the table of them.
 */
export interface Kind<Data extends {kind: string}> {
  kind: Data['kind']
  /** The JSON Schema of one interval's data (schema/result.schema.json is built from these). */
  schema: JsonSchema
  /** Extra schema definitions the fragment refers to (as "#/definitions/NAME"). */
  definitions?: Record<string, JsonSchema>
  /** The data as text, one string a line; plain unless given a terminal's style. */
  render(data: Data, style: TextStyle): string[]
  /** Two intervals as one: what the whole run measured when `earlier` came before `later`. */
  combine(earlier: Data, later: Data): Data
  /** For runbook selectors: what the rows or histograms are keyed by ("syscall", "disk"); null: nothing. */
  selectorKey(data: Data): string | null
  /**
   * For runbook count metrics (count, rows): events and rows, of the one key `only` when given.
   * A kind without it (a table's values, stacks' samples or times) has no count metrics.
   */
  tally?(data: Data, only?: string): Tally
  /** For the runbook's Prometheus report: the samples of (a whole run's) data. */
  samples(data: Data): Sample[]
}
