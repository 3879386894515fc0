import {PLAIN, type TextStyle, paint} from '../../render/style.js'
import type {ToolResult} from '../model.js'
import type {Kind, JsonSchema} from './kind.js'

export type RowValue = string | number | string[] | null
export type Row = Record<string, RowValue>

/**
 * A column of a rows (or table) result. `type` says how a value prints: strings left-aligned,
 * numbers right-aligned; a `time` is a duration in `unit`, printed with two decimals (bcc's LATms);
 * a `clock` is when the event happened, an ISO 8601 date in JSON, printed as the local HH:MM:SS (bcc's TIME).
 */
export interface RowColumn {
  /** The row's property: "pid", "latMs". */
  name: string
  /** The header: "PID", "LATms". */
  title: string
  type: 'string' | 'integer' | 'number' | 'time' | 'clock' | 'frames'
  unit?: 'ms' | 'us' | 'ns'
  /** The text width the column is padded to; by default its title's or its type's, the wider. */
  width?: number
  /** Left out of text (JSON has it): a value the text shows otherwise (tcplife's START: TIME less MS). */
  jsonOnly?: boolean
}

/** One row per event, as it happens (gethostlatency, tcplife): printed as each arrives. */
export interface Rows {
  kind: 'rows'
  columns: RowColumn[]
  rows: Row[]
}

const TYPE_WIDTH: Record<RowColumn['type'], number> = {string: 0, integer: 7, number: 10, time: 10, clock: 8, frames: 0}
// How far a row's frames are indented under it.
const FRAME_INDENT = '        '
const NUMERIC = new Set<RowColumn['type']>(['integer', 'number', 'time'])

export const columnWidth = (column: RowColumn) => column.width ?? Math.max(column.title.length, TYPE_WIDTH[column.type])

/** A value as its column prints it: null as "-", times and numbers with two decimals. */
export function cellText(column: RowColumn, value: RowValue | undefined): string {
  if (value === null || value === undefined) return '-'
  if (column.type === 'clock' && typeof value === 'string') return new Date(value).toTimeString().slice(0, 8)
  if (typeof value === 'string') return value
  if (Array.isArray(value)) return value.join(';')
  if (column.type === 'integer') return String(Math.round(value))
  return value.toFixed(2)
}

/** Cells padded to their columns' widths, numbers to the right (a last string column is not padded): bcc's layout. */
function line(columns: RowColumn[], cells: string[]): string {
  const padded = cells.map((cell, i) => {
    if (NUMERIC.has(columns[i].type)) return cell.padStart(columnWidth(columns[i]))
    return i === cells.length - 1 ? cell : cell.padEnd(columnWidth(columns[i]))
  })
  return padded.join(' ').trimEnd()
}

/** The header line of a rows result, printed once before the first row: column titles, padded. */
export function renderRowsHeader(columns: RowColumn[], style: TextStyle = PLAIN): string {
  const shown = onLine(columns)
  return paint(style, line(shown, shown.map((c) => c.title)), 'bold')
}

/** A rows result's columns that print on its line: all but the frames, which go under it, and those for JSON only. */
const onLine = (columns: RowColumn[]) => columns.filter((c) => c.type !== 'frames' && !c.jsonOnly)

/**
 * One row as a line under renderRowsHeader's, so that a stream prints each row as it arrives; a
 * frames column's frames follow it, one a line, indented (none known: "-").
 */
export function renderRow(columns: RowColumn[], row: Row): string {
  const shown = onLine(columns)
  const text = line(shown, shown.map((c) => cellText(c, row[c.name])))
  const frames = columns.filter((c) => c.type === 'frames' && !c.jsonOnly).flatMap((c) => {
    const value = row[c.name]
    return Array.isArray(value) ? value : [cellText(c, value)]
  })
  return [text, ...frames.map((frame) => `${FRAME_INDENT}${frame}`), ...(frames.length ? [''] : [])].join('\n')
}

/** A JSON Schema of a column's description, shared by rows and table. */
export const COLUMN_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['name', 'title', 'type'],
  additionalProperties: false,
  properties: {
    name: {type: 'string'},
    title: {type: 'string'},
    type: {enum: ['string', 'integer', 'number', 'time', 'clock', 'frames']},
    unit: {enum: ['ms', 'us', 'ns']},
    width: {type: 'integer', minimum: 1},
    jsonOnly: {type: 'boolean'},
  },
}

/** A row's value: a string, a number, a list of frames, or null (not known). */
export const ROW_VALUE_SCHEMA: JsonSchema = {type: ['string', 'number', 'array', 'null'], items: {type: 'string'}}

/** A row: column name -> value. */
export const ROW_SCHEMA: JsonSchema = {type: 'object', additionalProperties: ROW_VALUE_SCHEMA}

/** What the line of a row in `--json` output (NDJSON) is: the row with "type": "row". */
export function rowLine(row: Row): Row & {type: 'row'} {
  return {...row, type: 'row'}
}

/**
 * The last line of a rows tool's `--json` output: the result without its rows (they were printed,
 * a line each, as they came), with how many there were.
 */
export function summaryLine(result: ToolResult): ToolResult & {type: 'summary'; rowCount: number} {
  let rowCount = 0
  const intervals = result.intervals.map((interval) => {
    if (interval.data.kind !== 'rows') return interval
    rowCount += interval.data.rows.length
    return {...interval, data: {...interval.data, rows: []}}
  })
  return {type: 'summary', ...result, intervals, rowCount}
}

export const rows: Kind<Rows> = {
  kind: 'rows',
  schema: {
    type: 'object',
    required: ['kind', 'columns', 'rows'],
    additionalProperties: false,
    properties: {
      kind: {const: 'rows'},
      columns: {type: 'array', items: {$ref: '#/definitions/column'}},
      rows: {type: 'array', items: {$ref: '#/definitions/row'}},
    },
  },
  definitions: {column: COLUMN_SCHEMA, row: ROW_SCHEMA},
  render: (data, style) => [renderRowsHeader(data.columns, style), ...data.rows.map((row) => renderRow(data.columns, row))],
  combine: (earlier, later) => ({...earlier, rows: [...earlier.rows, ...later.rows]}),
  selectorKey: () => null,
  tally: (data) => ({events: data.rows.length, rows: data.rows.length}),
  samples: (data) => [{name: 'diag_rows_total', type: 'counter', help: 'Rows (events) printed during the step.', labels: {}, value: data.rows.length}],
}
