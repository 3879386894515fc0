import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {type Histogram, type Histograms, percentileBucket, percentileLine, renderHistogram} from '../../src/result/kinds/histograms.js'
import {KINDS} from '../../src/result/kinds/index.js'
import {log2Histogram} from '../../src/result/normalize.js'
import {schemaFiles} from '../../src/result/schema.js'
import {parseExpression} from '../../src/runbook/expression.js'
import {evaluate} from '../../src/runbook/metrics.js'
import {fakeResult} from '../helpers/results.js'
import {schemaErrors} from '../helpers/schema.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

describe('the result schemas', () => {
  it.for(Object.keys(schemaFiles()))('%s is what the output kinds generate (npm run build:schema)', (file) => {
    expect(readFileSync(path.join(ROOT, file), 'utf8')).toBe(schemaFiles()[file])
  })

  it('has a definition for every kind', () => {
    const schema = JSON.parse(schemaFiles()['schema/result.schema.json'])
    expect(Object.keys(schema.definitions)).toEqual(expect.arrayContaining(Object.keys(KINDS)))
  })
})

describe('percentiles of log2 histograms', () => {
  // Counts per bucket [0,1] [2,3] [4,7] ... [512,1023], 5867 in all; counted up to each bucket:
  // 3 43 223 1173 3573 5373 5793 5853 5865 5867. p50 is the 2933.5th sample: in [16,31]; p90 the
  // 5280.3rd: in [32,63]; p99 the 5808.33rd: past 5793, in [128,255]; the maximum in [512,1023].
  const SPREAD = [3, 40, 180, 950, 2400, 1800, 420, 60, 12, 2]
  const spread = log2Histogram(null, new Map(SPREAD.map((count, slot) => [slot, count])))

  it('gives the bucket each percentile falls in', () => {
    expect(spread.percentiles).toEqual({p50: {low: 16, high: 31}, p90: {low: 32, high: 63}, p99: {low: 128, high: 255}, max: {low: 512, high: 1023}})
    expect(percentileLine(spread, 'usecs')).toBe('p50 <= 31  p90 <= 63  p99 <= 255  max <= 1023 usecs (log2 buckets: up to 2x)')
  })

  it('counts a percentile whose rank is reached exactly in the bucket that reaches it', () => {
    // 90 in [0,1], 9 in [8,15], 1 in [1024,2047]: the 90th sample is the last of bucket 0, the 99th of [8,15].
    const histogram = log2Histogram(null, new Map([[0, 90], [3, 9], [10, 1]]))
    expect(histogram.percentiles).toEqual({p50: {low: 0, high: 1}, p90: {low: 0, high: 1}, p99: {low: 8, high: 15}, max: {low: 1024, high: 2047}})
  })

  it('has no percentile for an empty histogram, and prints no line for it', () => {
    for (const empty of [log2Histogram(null, new Map()), log2Histogram(null, new Map([[3, 0]]))]) {
      expect(empty.percentiles).toEqual({p50: null, p90: null, p99: null, max: null})
      expect(percentileLine(empty, 'usecs')).toBeUndefined()
      expect(renderHistogram(empty, 'usecs')).toEqual([expect.stringContaining('distribution'), '(no events)'])
    }
  })

  it('puts every percentile in the one bucket that holds samples', () => {
    const one = log2Histogram(null, new Map([[5, 7]]))
    expect(one.buckets).toHaveLength(6)
    expect(one.percentiles).toEqual({p50: {low: 32, high: 63}, p90: {low: 32, high: 63}, p99: {low: 32, high: 63}, max: {low: 32, high: 63}})
    const single = log2Histogram(null, new Map([[2, 1]]))
    expect(single.percentiles?.p50).toEqual({low: 4, high: 7})
  })

  it('all in bucket 0: every percentile is at most 1', () => {
    const zero = log2Histogram(null, new Map([[0, 10]]))
    expect(zero.percentiles).toEqual({p50: {low: 0, high: 1}, p90: {low: 0, high: 1}, p99: {low: 0, high: 1}, max: {low: 0, high: 1}})
    expect(renderHistogram(zero, 'nsecs').at(-1)).toBe('p50 <= 1  p90 <= 1  p99 <= 1  max <= 1 nsecs (log2 buckets: up to 2x)')
  })

  it('prints the line under each histogram, after its buckets', () => {
    const lines = renderHistogram(spread, 'usecs')
    expect(lines).toHaveLength(1 + SPREAD.length + 1)
    expect(lines.at(-1)).toBe('p50 <= 31  p90 <= 63  p99 <= 255  max <= 1023 usecs (log2 buckets: up to 2x)')
  })

  it('recomputes them when intervals combine', () => {
    const data = (h: Histogram): Histograms => ({kind: 'histograms', unit: 'usecs', labelKey: null, histograms: [h]})
    const later = log2Histogram(null, new Map([[12, 10_000]]))
    const combined = KINDS.histograms.combine(data(spread), data(later))
    expect(combined.histograms[0].count).toBe(15_867)
    // 15867 samples: the first 5867 are under 1024, the rest in [4096,8191]: p50 (7933.5th) is there.
    expect(combined.histograms[0].percentiles).toEqual({p50: {low: 4096, high: 8191}, p90: {low: 4096, high: 8191}, p99: {low: 4096, high: 8191}, max: {low: 4096, high: 8191}})
  })

  it("is what a runbook's p99 and max measure (one computation)", () => {
    const histogram = log2Histogram(null, new Map([[0, 90], [3, 9], [10, 1]]))
    const result = fakeResult('runqlat', {kind: 'histograms', unit: 'usecs', labelKey: null, histograms: [histogram]})
    const measured = (text: string) => evaluate(parseExpression(text), result).measured[0].value
    // A runbook compares the bucket's upper edge (high + 1), in nanoseconds.
    expect(measured('p99 < 1ms')).toBe((histogram.percentiles!.p99!.high + 1) * 1000)
    expect(measured('max < 1ms')).toBe((histogram.percentiles!.max!.high + 1) * 1000)
    expect(percentileBucket(histogram, 99)).toEqual({low: 8, high: 15, count: 9})
  })

  it('validate against the result schema', () => {
    expect(schemaErrors('result', fakeResult('runqlat', {kind: 'histograms', unit: 'usecs', labelKey: null, histograms: [spread, log2Histogram(null, new Map())]}))).toBe('')
  })
})
