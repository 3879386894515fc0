import type {Counts, Histogram, Histograms, Profile, ResultData, ToolResult} from '../result/model.js'
import {PLAIN, type TextStyle, paint} from './style.js'
import {columns} from './table.js'

/** The bar width of plain output, as bcc's tools have it; a terminal gets what its width leaves. */
const BAR_WIDTH = 40
const PERCENTILES = [50, 90, 99]

const bar = (count: number, max: number, width: number) => (max === 0 ? '' : '*'.repeat(Math.round((count / max) * width)))

/** For each bucket, the percentiles (of PERCENTILES) whose value falls in it: "p50", "p90 p99". */
function percentileMarks(histogram: Histogram): string[] {
  const total = histogram.buckets.reduce((sum, b) => sum + b.count, 0)
  const marks = histogram.buckets.map(() => [] as string[])
  let seen = 0
  let next = 0
  histogram.buckets.forEach((b, i) => {
    seen += b.count
    while (next < PERCENTILES.length && total > 0 && seen >= (PERCENTILES[next] / 100) * total) marks[i].push(`p${PERCENTILES[next++]}`)
  })
  return marks.map((m) => m.join(' '))
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
  if (histogram.buckets.length === 0) lines.push('(no events)')
  return lines
}

/** Counts by key; on a terminal, with a bar per row in the width left over. */
function renderCounts(data: Counts, style: TextStyle): string[] {
  if (data.rows.length === 0) return ['(no events)']
  const table = columns([[data.key.toUpperCase(), 'COUNT'], ...data.rows.map((r) => [r.key, String(r.count)])])
  if (!style.terminal) return table
  const max = Math.max(...data.rows.map((r) => r.count))
  const tableWidth = Math.max(...table.map((line) => line.length))
  const barWidth = style.width - tableWidth - 3
  const [header, ...rows] = table
  if (barWidth < 5) return [paint(style, header, 'bold'), ...rows]
  return [paint(style, header, 'bold'), ...rows.map((line, i) => `${line.padEnd(tableWidth)}  ${paint(style, bar(data.rows[i].count, max, barWidth), 'cyan')}`)]
}

function renderHistograms(data: Histograms, style: TextStyle): string[] {
  if (data.histograms.length === 0) return ['(no events)']
  return data.histograms.flatMap((h, i) => [
    ...(h.label === null ? [] : [`${i > 0 ? '\n' : ''}${paint(style, `${data.labelKey ?? 'label'} = ${h.label}`, 'bold')}`]),
    ...renderHistogram(h, data.unit, style),
  ])
}

const us = (value: number) => `${value.toFixed(3)} us`

function renderProfile(data: Profile, style: TextStyle): string[] {
  if (data.rows.length === 0) return ['(no events)']
  const [header, ...rows] = columns([
    ['Function', 'Hit', 'Time', 'Avg', 's^2'],
    ...data.rows.map((r) => [r.function, String(r.hits), us(r.totalUs), us(r.avgUs), us(r.varianceUs2)]),
  ])
  return [paint(style, header, 'bold'), ...rows]
}

/** A result's data as text; plain unless given a terminal's style (render/style.ts). */
export function renderData(data: ResultData, style: TextStyle = PLAIN): string[] {
  switch (data.kind) {
    case 'counts':
      return renderCounts(data, style)
    case 'histograms':
      return renderHistograms(data, style)
    case 'profile':
      return renderProfile(data, style)
    case 'rows':
      // The rows were printed as they came (src/tool-command.ts); a saved result holds none.
      return data.count === 0 ? ['(no events)'] : [`(${data.count} rows)`]
  }
}

/** The header line every tool prints first: which backend ran, and why the others did not. */
export function renderHeader(result: Pick<ToolResult, 'tool' | 'backend' | 'route'>): string[] {
  const lines = [`${result.tool}: ${result.backend.name} backend (${result.backend.candidate}: ${result.backend.attach}); ${result.route.why}`]
  for (const passed of result.route.passedOver) {
    const what = passed.stage === 'start' ? 'failed to start, undone:' : 'passed over'
    lines.push(`  ${what} ${passed.candidate}: ${passed.reasons.join('; ')}`)
  }
  if (result.backend.jit === false) lines.push('  note: the BPF JIT is off (net.core.bpf_jit_enable = 0): the programs run in the interpreter, which costs more per event')
  return lines
}

export function renderInterval(result: Pick<ToolResult, 'intervals'>, index: number, style: TextStyle = PLAIN): string[] {
  const interval = result.intervals[index]
  const time = interval.time.slice(11, 19)
  return [...(result.intervals.length > 1 || index > 0 ? [`\n${time} (${interval.seconds.toFixed(1)} s)`] : ['']), ...renderData(interval.data, style)]
}

export function renderFooter(result: ToolResult): string[] {
  const lines: string[] = []
  if (result.command) lines.push(`\ncommand ${result.command.argv.join(' ')} exited with ${result.command.exitCode}`)
  if (result.lost) lines.push(`\nwarning: ${result.lost} events were lost; counts are low by at least that much`)
  return lines
}
