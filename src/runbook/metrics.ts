import {addHistograms, percentileBucket} from '../result/kinds/histograms.js'
import {KINDS, combineAll, kindOf} from '../result/kinds/index.js'
import {TIME_UNIT_SECONDS, stacksTotal} from '../result/kinds/stacks.js'
import type {Histogram, ResultData, TimeUnit, ToolResult} from '../result/model.js'
import {type Expression, ExpressionError, NS_PER, type Operand, compare, comparisons} from './expression.js'

/** What a result's data is, as the tool table says: the metrics a check may name depend on it. */
export type OutputKind = ResultData['kind']

type Metric = {type: 'count' | 'time'; kinds: OutputKind[]; selectable: boolean; summary: string}

/** The kinds whose events and rows a count metric reads (each kind says, src/result/kinds/). */
const TALLIED = Object.values(KINDS)
  .filter((kind) => kind.tally)
  .map((kind) => kind.kind)

/**
 * The metrics of the check language. Times are in nanoseconds and compare with numbers that carry
 * a unit (10ms); counts with plain numbers. A selector picks one key: count(syscall == "read"),
 * p99(disk == "vda").
 */
export const METRICS: Record<string, Metric> = {
  count: {type: 'count', kinds: TALLIED, selectable: true, summary: 'events counted (histogram samples, profiler hits); of one key with a selector'},
  rows: {type: 'count', kinds: TALLIED, selectable: false, summary: 'rows of the result: keys counted, histograms, functions'},
  lost: {type: 'count', kinds: Object.keys(KINDS) as OutputKind[], selectable: false, summary: 'events the backend lost; a check on it cannot pass when the backend cannot tell'},
  max: {type: 'time', kinds: ['histograms'], selectable: true, summary: 'the upper edge of the highest non-empty bucket'},
  min: {type: 'time', kinds: ['histograms'], selectable: true, summary: 'the lower edge of the lowest non-empty bucket'},
  mean: {type: 'time', kinds: ['histograms'], selectable: true, summary: 'the mean, taking each sample at its bucket middle'},
  pN: {type: 'time', kinds: ['histograms'], selectable: true, summary: 'the Nth percentile (p50, p90, p99): the upper edge of the log2 bucket that holds it, at most twice the true value'},
  stacks: {type: 'count', kinds: ['stacks'], selectable: false, summary: 'distinct stacks (offcputime, profile)'},
  total: {type: 'time', kinds: ['stacks'], selectable: false, summary: "the stacks' times added up (offcputime: all the off-CPU time); cannot be judged where they are samples (profile)"},
}

function metricOf(name: string): Metric | undefined {
  if (/^p([1-9]\d?|100)$/.test(name)) return METRICS.pN
  return name === 'pN' ? undefined : METRICS[name]
}

/**
 * Checks an expression against what a tool gives: known metrics, of its output kind, compared
 * with numbers of the right type. Throws ExpressionError pointing at the operand.
 */
export function checkExpression(expression: Expression, text: string, kind: OutputKind): void {
  for (const comparison of comparisons(expression)) {
    const {left, right} = comparison
    const at = (operand: Operand) => text.indexOf(operand.text, text.indexOf(comparison.text)) + 1
    const metrics = [left, right].filter((o) => o.kind === 'metric')
    if (metrics.length !== 1) throw new ExpressionError(`"${comparison.text}" must compare one metric with a number`, at(left))
    const metric = metrics[0] as Extract<Operand, {kind: 'metric'}>
    const number = (left.kind === 'number' ? left : right) as Extract<Operand, {kind: 'number'}>
    const spec = metricOf(metric.name)
    if (!spec) throw new ExpressionError(`unknown metric "${metric.name}"; known: ${Object.keys(METRICS).join(', ')} (pN as p50, p99)`, at(metric))
    if (!spec.kinds.includes(kind))
      throw new ExpressionError(spec.type === 'time' ? `${metric.name} needs a histogram; this tool gives ${kind}` : `${metric.name} does not apply to ${kind} results`, at(metric))
    if (metric.selector && !spec.selectable) throw new ExpressionError(`${metric.name} takes no selector`, at(metric))
    if (spec.type === 'time' && !number.unit) throw new ExpressionError(`${metric.name} is a time: give ${number.text} a unit (ns, us, ms, s)`, at(number))
    if (spec.type === 'count' && number.unit) throw new ExpressionError(`${metric.name} is a count: ${number.text} takes no unit`, at(number))
  }
}

/** Every interval of a result as one, as its kind combines them: counts added by key, histograms bucket by bucket. */
export function combinedData(result: ToolResult): ResultData | undefined {
  return combineAll(result.intervals.map((i) => i.data))
}

export interface Measured {
  /** The metric as written: p99, count(syscall == "read"). */
  metric: string
  /** Nanoseconds for times; null when the result cannot tell. */
  value: number | null
  /** For people: "p99 <= 16.4 ms (log2 bucket 8.19 ms to 16.4 ms)". */
  text: string
}

export function formatNs(ns: number): string {
  const [unit, per] = ns >= 1e9 ? ['s', 1e9] : ns >= 1e6 ? ['ms', 1e6] : ns >= 1e3 ? ['us', 1e3] : ['ns', 1]
  return `${Number((ns / per).toPrecision(3))} ${unit}`
}

const UNIT_TO_NS: Record<TimeUnit, number> = {nsecs: 1, usecs: 1_000, msecs: 1_000_000}

function measureHistogram(name: string, histogram: Histogram, unit: TimeUnit): Measured {
  const ns = (v: number) => v * UNIT_TO_NS[unit]
  const filled = histogram.buckets.filter((b) => b.count > 0)
  if (filled.length === 0) return {metric: name, value: null, text: `${name}: no samples`}
  // A bucket holds [low, high]; its upper edge is high + 1 in the unit, which is what bounds it.
  const edge = (b: {high: number}) => ns(b.high + 1)
  if (name === 'max') {
    const top = percentileBucket(histogram, 100)!
    return {metric: name, value: edge(top), text: `max < ${formatNs(edge(top))}`}
  }
  if (name === 'min') return {metric: name, value: ns(filled[0].low), text: `min >= ${formatNs(ns(filled[0].low))}`}
  if (name === 'mean') {
    const sum = filled.reduce((s, b) => s + b.count * ns((b.low + b.high + 1) / 2), 0)
    const mean = sum / filled.reduce((s, b) => s + b.count, 0)
    return {metric: name, value: mean, text: `mean ~ ${formatNs(mean)} (bucket middles)`}
  }
  const bucket = percentileBucket(histogram, Number(name.slice(1)))!
  return {metric: name, value: edge(bucket), text: `${name} < ${formatNs(edge(bucket))} (log2 bucket ${formatNs(ns(bucket.low))} to ${formatNs(edge(bucket))})`}
}

/** The value of one metric operand in a result. */
export function measure(operand: Extract<Operand, {kind: 'metric'}>, result: ToolResult): Measured {
  const name = operand.text
  if (operand.name === 'lost')
    return {metric: name, value: result.lost, text: result.lost === null ? 'lost: the backend cannot tell' : `lost = ${result.lost}`}
  const data = combinedData(result)
  if (!data) return {metric: name, value: null, text: `${name}: no interval`}
  if (data.kind === 'stacks' && operand.name === 'stacks') return {metric: name, value: data.stacks.length, text: `${name} = ${data.stacks.length}`}
  if (data.kind === 'stacks' && operand.name === 'total') {
    const seconds = TIME_UNIT_SECONDS[data.unit]
    if (seconds === undefined) return {metric: name, value: null, text: `${name}: these stacks count ${data.unit}, not time`}
    const ns = stacksTotal(data) * seconds * 1e9
    return {metric: name, value: ns, text: `${name} = ${formatNs(ns)}`}
  }
  const selector = operand.selector
  const kind = kindOf(data)
  const keyName = kind.selectorKey(data)
  if (selector && selector.key !== keyName)
    return {metric: name, value: null, text: `${name}: this result is keyed by ${keyName ?? 'nothing (one histogram)'}, not ${selector.key}`}
  if (operand.name === 'count' || operand.name === 'rows' || data.kind !== 'histograms') {
    if (!kind.tally) return {metric: name, value: null, text: `${name} does not apply to ${data.kind} results`}
    const tally = kind.tally(data, selector?.value)
    const value = operand.name === 'rows' ? tally.rows : tally.events
    return {metric: name, value, text: `${name} = ${value}`}
  }
  const histograms = selector ? data.histograms.filter((h) => h.label === selector.value) : data.histograms
  // A time metric over several histograms (disks) reads them as one.
  const [merged] = addHistograms(histograms.map((h) => ({...h, label: null})))
  if (!merged) return {metric: name, value: null, text: `${name}: no histogram ${selector ? `for ${selector.value}` : ''}`.trim()}
  return measureHistogram(name, merged, data.unit)
}

export type Verdict = 'pass' | 'fail' | 'unknown'

/** Evaluates a checked expression, three-valued: a metric the result cannot tell makes it unknown. */
export function evaluate(expression: Expression, result: ToolResult): {verdict: Verdict; measured: Measured[]} {
  const measured: Measured[] = []
  const walk = (e: Expression): Verdict => {
    if (e.kind !== 'compare') {
      const left = walk(e.left)
      const right = walk(e.right)
      const decisive = e.kind === 'and' ? 'fail' : 'pass'
      if (left === decisive || right === decisive) return decisive
      return left === 'unknown' || right === 'unknown' ? 'unknown' : left
    }
    const value = (o: Operand): number | null => {
      if (o.kind === 'number') return o.value * (o.unit ? NS_PER[o.unit] : 1)
      const m = measure(o, result)
      measured.push(m)
      return m.value
    }
    const left = value(e.left)
    const right = value(e.right)
    if (left === null || right === null) return 'unknown'
    return compare(left, e.op, right) ? 'pass' : 'fail'
  }
  return {verdict: walk(expression), measured}
}
