import {PLAIN, type TextStyle, paint} from '../../render/style.js'
import type {Kind, Sample} from './kind.js'
import {BAR_WIDTH, NO_EVENTS, bar} from './text.js'

export type TimeUnit = 'nsecs' | 'usecs' | 'msecs'

/** A log2 histogram: bucket i holds values in [2^i, 2^(i+1) - 1], bucket 0 holds 0 and 1. */
export interface Histogram {
  /** null for the whole system; a disk or another grouping otherwise. */
  label: string | null
  buckets: {low: number; high: number; count: number}[]
  count: number
  /** Where p50, p90, p99 and the maximum fall (percentilesOf); every backend's histogram has them. */
  percentiles?: Percentiles
}

/**
 * The bucket a percentile falls in: the value is in [low, high] of the histogram's unit, and no
 * closer. A log2 bucket's high is under twice its low, so `high` is at most 2x the true value
 * (bucket 0 holds 0 and 1). null when the histogram holds no sample.
 */
export type PercentileBounds = {low: number; high: number} | null

export interface Percentiles {
  p50: PercentileBounds
  p90: PercentileBounds
  p99: PercentileBounds
  max: PercentileBounds
}

export interface Histograms {
  kind: 'histograms'
  unit: TimeUnit
  /** What a histogram's label names, when there is more than one: "disk". */
  labelKey: string | null
  histograms: Histogram[]
}

export type Bucket = Histogram['buckets'][number]

/**
 * The bucket that holds the Nth percentile (0 < n <= 100) of a histogram's samples: the first
 * whose running count reaches n% of them; p100 is the highest non-empty bucket. undefined when
 * the histogram holds no sample. The one computation behind the text marks, the JSON and the
 * runbook's pN metrics.
 */
export function percentileBucket(histogram: Pick<Histogram, 'buckets'>, n: number): Bucket | undefined {
  const total = histogram.buckets.reduce((sum, b) => sum + b.count, 0)
  if (total === 0) return undefined
  const rank = (n / 100) * total
  let seen = 0
  const filled = histogram.buckets.filter((b) => b.count > 0)
  // Past the last one only by rounding (n = 100 of a total that is not exact in floating point).
  return filled.find((b) => (seen += b.count) >= rank) ?? filled.at(-1)
}

const MARKED = [50, 90, 99]
const PERCENTILES = {p50: 50, p90: 90, p99: 99, max: 100} as const

/** The buckets p50, p90, p99 and the maximum fall in, for JSON and text. */
export function percentilesOf(histogram: Pick<Histogram, 'buckets'>): Percentiles {
  const bounds = (n: number): PercentileBounds => {
    const bucket = percentileBucket(histogram, n)
    return bucket ? {low: bucket.low, high: bucket.high} : null
  }
  return {p50: bounds(PERCENTILES.p50), p90: bounds(PERCENTILES.p90), p99: bounds(PERCENTILES.p99), max: bounds(PERCENTILES.max)}
}

/**
 * The line under a histogram: each percentile's bound, "p50 <= 31  p90 <= 63  p99 <= 255  max <= 1023
 * usecs", and what that bound is worth. undefined when the histogram holds no sample.
 */
export function percentileLine(histogram: Pick<Histogram, 'buckets'>, unit: string): string | undefined {
  const percentiles = percentilesOf(histogram)
  if (!percentiles.max) return undefined
  const parts = (Object.keys(PERCENTILES) as (keyof Percentiles)[]).map((name) => `${name} <= ${percentiles[name]!.high}`)
  return `${parts.join('  ')} ${unit} (log2 buckets: up to 2x)`
}

/** For each bucket, the percentiles (of MARKED) whose value falls in it: "p50", "p90 p99". */
function percentileMarks(histogram: Histogram): string[] {
  const marked = MARKED.map((n) => percentileBucket(histogram, n))
  return histogram.buckets.map((b) =>
    MARKED.filter((_, i) => marked[i] === b)
      .map((n) => `p${n}`)
      .join(' '),
  )
}

/**
 * A log2 histogram as bcc's tools print one, so that operators read it at a glance. On a terminal
 * the bars take the width there is, and the buckets holding the median, p90 and p99 are marked
 * (and highlighted, with colour).
 */
export function renderHistogram(histogram: Histogram, unit: string, style: TextStyle = PLAIN): string[] {
  const max = Math.max(0, ...histogram.buckets.map((b) => b.count))
  const lowWidth = Math.max(10, ...histogram.buckets.map((b) => String(b.low).length))
  const highWidth = Math.max(10, ...histogram.buckets.map((b) => String(b.high).length))
  const marks = style.terminal ? percentileMarks(histogram) : histogram.buckets.map(() => '')
  const markWidth = Math.max(0, ...marks.map((m) => m.length + 1))
  // "     LOW -> HIGH      : COUNT    |" before the bar, "|" and the marks after it.
  const barWidth = style.terminal ? Math.max(10, style.width - (lowWidth + 4 + highWidth + 2 + 9 + 2 + markWidth)) : BAR_WIDTH
  const lines = [paint(style, `${unit.padStart(lowWidth + 1).padEnd(lowWidth + 4 + highWidth)}: count     distribution`, 'bold')]
  histogram.buckets.forEach((b, i) => {
    const range = `${String(b.low).padStart(lowWidth)} -> ${String(b.high).padEnd(highWidth)}: ${String(b.count).padEnd(9)}`
    const bars = bar(b.count, max, barWidth).padEnd(barWidth)
    if (!marks[i]) lines.push(`${range}|${paint(style, bars, 'cyan')}|`)
    else lines.push(`${paint(style, range, 'bold', 'yellow')}|${paint(style, bars, 'yellow')}| ${paint(style, marks[i], 'bold', 'yellow')}`)
  })
  if (histogram.buckets.length === 0) lines.push(NO_EVENTS)
  const percentiles = percentileLine(histogram, unit)
  if (percentiles) lines.push(percentiles)
  return lines
}

function render(data: Histograms, style: TextStyle): string[] {
  if (data.histograms.length === 0) return [NO_EVENTS]
  return data.histograms.flatMap((h, i) => [
    ...(h.label === null ? [] : [`${i > 0 ? '\n' : ''}${paint(style, `${data.labelKey ?? 'label'} = ${h.label}`, 'bold')}`]),
    ...renderHistogram(h, data.unit, style),
  ])
}

/** Histograms added bucket by bucket, those of one label into one (in the order labels first appear). */
export function addHistograms(histograms: Histogram[]): Histogram[] {
  const byLabel = new Map<string | null, Histogram>()
  for (const histogram of histograms) {
    const merged = byLabel.get(histogram.label) ?? {label: histogram.label, buckets: [], count: 0}
    for (const bucket of histogram.buckets) {
      const same = merged.buckets.find((b) => b.low === bucket.low)
      if (same) same.count += bucket.count
      else merged.buckets.push({...bucket})
    }
    merged.buckets.sort((a, b) => a.low - b.low)
    merged.count += histogram.count
    byLabel.set(histogram.label, merged)
  }
  return [...byLabel.values()].map((h) => ({...h, percentiles: percentilesOf(h)}))
}

const SECONDS: Record<TimeUnit, number> = {nsecs: 1e-9, usecs: 1e-6, msecs: 1e-3}

/**
 * As Prometheus histograms with `le` buckets in seconds (no _sum: a log2 histogram does not keep
 * one), labelled by the label key when there is one.
 */
function samples(data: Histograms): Sample[] {
  const family = {name: 'diag_latency_seconds', type: 'histogram', help: 'Latency during the step as a log2 histogram (buckets by upper edge, in seconds).'} as const
  const out: Sample[] = []
  for (const histogram of data.histograms) {
    const labels = data.labelKey && histogram.label !== null ? {[data.labelKey]: histogram.label} : {}
    let cumulative = 0
    for (const bucket of histogram.buckets) {
      cumulative += bucket.count
      const le = Number(((bucket.high + 1) * SECONDS[data.unit]).toPrecision(6))
      out.push({...family, suffix: '_bucket', labels: {...labels, le: String(le)}, value: cumulative})
    }
    out.push({...family, suffix: '_bucket', labels: {...labels, le: '+Inf'}, value: histogram.count})
    out.push({...family, suffix: '_count', labels, value: histogram.count})
  }
  return out
}

export const histograms: Kind<Histograms> = {
  kind: 'histograms',
  schema: {
    type: 'object',
    required: ['kind', 'unit', 'labelKey', 'histograms'],
    additionalProperties: false,
    properties: {
      kind: {const: 'histograms'},
      unit: {enum: ['nsecs', 'usecs', 'msecs']},
      labelKey: {type: ['string', 'null']},
      histograms: {
        type: 'array',
        items: {
          type: 'object',
          required: ['label', 'buckets', 'count'],
          additionalProperties: false,
          properties: {
            label: {type: ['string', 'null']},
            count: {type: 'integer', minimum: 0},
            percentiles: {
              type: 'object',
              description:
                'the log2 bucket each of p50, p90, p99 and the maximum falls in (null: no sample); the value is in [low, high] of the unit and known no closer: high is at most 2x the value (bucket 0 holds 0 and 1)',
              required: ['p50', 'p90', 'p99', 'max'],
              additionalProperties: false,
              properties: Object.fromEntries(Object.keys(PERCENTILES).map((name) => [name, {$ref: '#/definitions/percentileBounds'}])),
            },
            buckets: {
              type: 'array',
              description: 'log2 buckets from [0, 1] up to the highest used, each [2^i, 2^(i+1) - 1]',
              items: {
                type: 'object',
                required: ['low', 'high', 'count'],
                additionalProperties: false,
                properties: {low: {type: 'integer'}, high: {type: 'integer'}, count: {type: 'integer', minimum: 0}},
              },
            },
          },
        },
      },
    },
  },
  definitions: {
    percentileBounds: {
      oneOf: [
        {type: 'null'},
        {type: 'object', required: ['low', 'high'], additionalProperties: false, properties: {low: {type: 'integer'}, high: {type: 'integer'}}},
      ],
    },
  },
  render,
  combine: (earlier, later) => ({...earlier, histograms: addHistograms([...earlier.histograms, ...later.histograms])}),
  selectorKey: (data) => data.labelKey,
  tally(data, only) {
    const chosen = only === undefined ? data.histograms : data.histograms.filter((h) => h.label === only)
    return {events: chosen.reduce((s, h) => s + h.count, 0), rows: chosen.length}
  },
  samples,
}
