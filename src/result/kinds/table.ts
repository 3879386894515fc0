import type {TextStyle} from '../../render/style.js'
import type {Kind} from './kind.js'
import {type Row, type RowColumn, cellText, renderRow, renderRowsHeader} from './rows.js'
import {NO_EVENTS} from './text.js'

/**
 * Keyed rows with several value columns, refreshed each interval (tcptop: PID COMM LADDR RADDR
 * keys, RX_KB TX_KB values). Values add up across intervals; rows print largest first by `sortBy`.
 */
export interface Table {
  kind: 'table'
  /** The columns that together name a row. */
  keys: RowColumn[]
  /** The numeric columns, summed when intervals combine. */
  values: RowColumn[]
  /** The value column rows are sorted by, largest first. */
  sortBy: string
  rows: Row[]
  /** A line printed above the header, of the interval as a whole (tcptop's load average). */
  caption?: string
}

const keyOf = (table: Table, row: Row) => JSON.stringify(table.keys.map((k) => row[k.name] ?? null))

/** The table's rows sorted by one of its value columns, largest first (ties by key, so the order is stable). */
export function sortTable(table: Table, sortBy: string = table.sortBy): Table {
  if (!table.values.some((v) => v.name === sortBy))
    throw new Error(`${sortBy} is not a value column of this table (${table.values.map((v) => v.name).join(', ')})`)
  const value = (row: Row) => (typeof row[sortBy] === 'number' ? (row[sortBy] as number) : Number.NEGATIVE_INFINITY)
  const rows = [...table.rows].sort((a, b) => value(b) - value(a) || keyOf(table, a).localeCompare(keyOf(table, b)))
  return {...table, sortBy, rows}
}

/** The table as text: a header, then its rows sorted by `sortBy` (the table's own column unless given). */
export function renderTable(table: Table, style?: TextStyle, sortBy?: string): string[] {
  const caption = table.caption === undefined ? [] : [table.caption]
  if (table.rows.length === 0) return [...caption, NO_EVENTS]
  const columns = [...table.keys, ...table.values]
  return [...caption, renderRowsHeader(columns, style), ...sortTable(table, sortBy).rows.map((row) => renderRow(columns, row))]
}

/** Rows of one key added value by value; a value missing on one side counts as 0. The caption is the later one's. */
function combine(earlier: Table, later: Table): Table {
  const byKey = new Map<string, Row>()
  for (const row of [...earlier.rows, ...later.rows]) {
    const key = keyOf(earlier, row)
    const known = byKey.get(key)
    if (!known) byKey.set(key, {...row})
    else for (const v of earlier.values) known[v.name] = Number(known[v.name] ?? 0) + Number(row[v.name] ?? 0)
  }
  const caption = later.caption ?? earlier.caption
  return sortTable({...earlier, ...(caption === undefined ? {} : {caption}), rows: [...byKey.values()]})
}

export const table: Kind<Table> = {
  kind: 'table',
  schema: {
    type: 'object',
    required: ['kind', 'keys', 'values', 'sortBy', 'rows'],
    additionalProperties: false,
    properties: {
      kind: {const: 'table'},
      keys: {type: 'array', items: {$ref: '#/definitions/column'}},
      values: {type: 'array', items: {$ref: '#/definitions/column'}},
      sortBy: {type: 'string'},
      rows: {type: 'array', items: {$ref: '#/definitions/row'}},
      caption: {type: 'string'},
    },
  },
  render: (data, style) => renderTable(data, style),
  combine,
  selectorKey: () => null,
  samples: (data) =>
    data.rows.flatMap((row) =>
      data.values.map((v) => ({
        name: 'diag_table_value',
        type: 'gauge' as const,
        help: 'A value of the step\'s table, by row key and column.',
        labels: {...Object.fromEntries(data.keys.map((k) => [k.name, cellText(k, row[k.name])])), column: v.name},
        value: Number(row[v.name] ?? 0),
      })),
    ),
}
