import type {TextStyle} from '../../render/style.js'
import type {Kind} from './kind.js'
import {NO_EVENTS, headedColumns} from './text.js'

/** One function's calls: hits, total and mean time, and the sample variance of its durations. */
export interface ProfileRow {
  function: string
  hits: number
  totalUs: number
  avgUs: number
  varianceUs2: number
}

/** Per-function hits and time, as the ftrace function profiler's trace_stat table has them. */
export interface Profile {
  kind: 'profile'
  rows: ProfileRow[]
}

const us = (value: number) => `${value.toFixed(3)} us`

function render(data: Profile, style: TextStyle): string[] {
  if (data.rows.length === 0) return [NO_EVENTS]
  return headedColumns(
    [['Function', 'Hit', 'Time', 'Avg', 's^2'], ...data.rows.map((r) => [r.function, String(r.hits), us(r.totalUs), us(r.avgUs), us(r.varianceUs2)])],
    style,
  )
}

/**
 * One function's calls of two intervals as one. The variance is the sample variance (n - 1), as
 * the kernel's profiler and the BPF backend give it; two are combined through their sums of
 * squared deviations (Chan et al.), which needs no sample kept.
 */
export function addProfileRows(a: ProfileRow, b: ProfileRow): ProfileRow {
  const hits = a.hits + b.hits
  if (a.hits === 0 || b.hits === 0) return a.hits === 0 ? {...b} : {...a}
  const meanA = a.totalUs / a.hits
  const meanB = b.totalUs / b.hits
  const squares = a.varianceUs2 * (a.hits - 1) + b.varianceUs2 * (b.hits - 1) + ((meanB - meanA) ** 2 * a.hits * b.hits) / hits
  const totalUs = a.totalUs + b.totalUs
  return {function: a.function, hits, totalUs, avgUs: totalUs / hits, varianceUs2: hits > 1 ? squares / (hits - 1) : 0}
}

function combine(earlier: Profile, later: Profile): Profile {
  const byFunction = new Map<string, ProfileRow>()
  for (const row of [...earlier.rows, ...later.rows]) {
    const known = byFunction.get(row.function)
    byFunction.set(row.function, known ? addProfileRows(known, row) : {...row})
  }
  return {kind: 'profile', rows: [...byFunction.values()]}
}

export const profile: Kind<Profile> = {
  kind: 'profile',
  schema: {
    type: 'object',
    required: ['kind', 'rows'],
    additionalProperties: false,
    properties: {
      kind: {const: 'profile'},
      rows: {
        type: 'array',
        items: {
          type: 'object',
          required: ['function', 'hits', 'totalUs', 'avgUs', 'varianceUs2'],
          additionalProperties: false,
          properties: {
            function: {type: 'string'},
            hits: {type: 'integer', minimum: 1},
            totalUs: {type: 'number', minimum: 0},
            avgUs: {type: 'number', minimum: 0},
            varianceUs2: {type: 'number', minimum: 0},
          },
        },
      },
    },
  },
  render,
  combine,
  selectorKey: () => 'function',
  tally(data, only) {
    const rows = only === undefined ? data.rows : data.rows.filter((r) => r.function === only)
    return {events: rows.reduce((s, r) => s + r.hits, 0), rows: rows.length}
  },
  samples: (data) =>
    data.rows.map((row) => ({
      name: 'diag_function_calls_total',
      type: 'counter',
      help: 'Function calls during the step.',
      labels: {function: row.function},
      value: row.hits,
    })),
}
