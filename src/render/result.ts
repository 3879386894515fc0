import type {Counts, Histogram, Histograms, Profile, ResultData, ToolResult} from '../result/model.js'
import {columns} from './table.js'

const BAR_WIDTH = 40

/** A log2 histogram as bcc's tools print one, so that operators read it at a glance. */
export function renderHistogram(histogram: Histogram, unit: string): string[] {
  const max = Math.max(0, ...histogram.buckets.map((b) => b.count))
  const lowWidth = Math.max(10, ...histogram.buckets.map((b) => String(b.low).length))
  const highWidth = Math.max(10, ...histogram.buckets.map((b) => String(b.high).length))
  const lines = [`${unit.padStart(lowWidth + 1).padEnd(lowWidth + 4 + highWidth)}: count     distribution`]
  for (const b of histogram.buckets) {
    const bar = max === 0 ? '' : '*'.repeat(Math.round((b.count / max) * BAR_WIDTH))
    lines.push(`${String(b.low).padStart(lowWidth)} -> ${String(b.high).padEnd(highWidth)}: ${String(b.count).padEnd(9)}|${bar.padEnd(BAR_WIDTH)}|`)
  }
  if (histogram.buckets.length === 0) lines.push('(no events)')
  return lines
}

function renderCounts(data: Counts): string[] {
  if (data.rows.length === 0) return ['(no events)']
  return columns([[data.key.toUpperCase(), 'COUNT'], ...data.rows.map((r) => [r.key, String(r.count)])])
}

function renderHistograms(data: Histograms): string[] {
  if (data.histograms.length === 0) return ['(no events)']
  return data.histograms.flatMap((h, i) => [
    ...(h.label === null ? [] : [`${i > 0 ? '\n' : ''}${data.labelKey ?? 'label'} = ${h.label}`]),
    ...renderHistogram(h, data.unit),
  ])
}

const us = (value: number) => `${value.toFixed(3)} us`

function renderProfile(data: Profile): string[] {
  if (data.rows.length === 0) return ['(no events)']
  return columns([
    ['Function', 'Hit', 'Time', 'Avg', 's^2'],
    ...data.rows.map((r) => [r.function, String(r.hits), us(r.totalUs), us(r.avgUs), us(r.varianceUs2)]),
  ])
}

export function renderData(data: ResultData): string[] {
  switch (data.kind) {
    case 'counts':
      return renderCounts(data)
    case 'histograms':
      return renderHistograms(data)
    case 'profile':
      return renderProfile(data)
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

export function renderInterval(result: Pick<ToolResult, 'intervals'>, index: number): string[] {
  const interval = result.intervals[index]
  const time = interval.time.slice(11, 19)
  return [...(result.intervals.length > 1 || index > 0 ? [`\n${time} (${interval.seconds.toFixed(1)} s)`] : ['']), ...renderData(interval.data)]
}

export function renderFooter(result: ToolResult): string[] {
  const lines: string[] = []
  if (result.command) lines.push(`\ncommand ${result.command.argv.join(' ')} exited with ${result.command.exitCode}`)
  if (result.lost) lines.push(`\nwarning: ${result.lost} events were lost; counts are low by at least that much`)
  return lines
}
