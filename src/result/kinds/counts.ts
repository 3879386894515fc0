import {type TextStyle, paint} from '../../render/style.js'
import {columns} from '../../render/table.js'
import type {Kind} from './kind.js'
import {NO_EVENTS, bar} from './text.js'

/** Event counts by key: syscalls by name, processes, kernel functions. */
export interface Counts {
  kind: 'counts'
  /** What a key names: "syscall", "process", "function". */
  key: string
  rows: {key: string; count: number}[]
}

/** Counts by key; on a terminal, with a bar per row in the width left over. */
function render(data: Counts, style: TextStyle): string[] {
  if (data.rows.length === 0) return [NO_EVENTS]
  const table = columns([[data.key.toUpperCase(), 'COUNT'], ...data.rows.map((r) => [r.key, String(r.count)])])
  if (!style.terminal) return table
  const max = Math.max(...data.rows.map((r) => r.count))
  const tableWidth = Math.max(...table.map((line) => line.length))
  const barWidth = style.width - tableWidth - 3
  const [header, ...rows] = table
  if (barWidth < 5) return [paint(style, header, 'bold'), ...rows]
  return [paint(style, header, 'bold'), ...rows.map((line, i) => `${line.padEnd(tableWidth)}  ${paint(style, bar(data.rows[i].count, max, barWidth), 'cyan')}`)]
}

/** Counts added by key, largest first (keys of equal count in the order they were first seen). */
function combine(earlier: Counts, later: Counts): Counts {
  const sums = new Map<string, number>()
  for (const row of [...earlier.rows, ...later.rows]) sums.set(row.key, (sums.get(row.key) ?? 0) + row.count)
  return {...earlier, rows: [...sums].map(([key, count]) => ({key, count})).sort((a, b) => b.count - a.count)}
}

export const counts: Kind<Counts> = {
  kind: 'counts',
  schema: {
    type: 'object',
    required: ['kind', 'key', 'rows'],
    additionalProperties: false,
    properties: {
      kind: {const: 'counts'},
      key: {type: 'string'},
      rows: {
        type: 'array',
        items: {
          type: 'object',
          required: ['key', 'count'],
          additionalProperties: false,
          properties: {key: {type: 'string'}, count: {type: 'integer', minimum: 1}},
        },
      },
    },
  },
  render,
  combine,
  selectorKey: (data) => data.key,
  tally(data, only) {
    const rows = only === undefined ? data.rows : data.rows.filter((r) => r.key === only)
    return {events: rows.reduce((s, r) => s + r.count, 0), rows: rows.length}
  },
  samples: (data) =>
    data.rows.map((row) => ({
      name: 'diag_events_total',
      type: 'counter',
      help: 'Events counted during the step, by key.',
      labels: {key: data.key, value: row.key},
      value: row.count,
    })),
}
