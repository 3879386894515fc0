import {renderKind} from '../result/kinds/index.js'
import type {ResultData, ToolResult} from '../result/model.js'
import {PLAIN, type TextStyle} from './style.js'

export {renderRow, renderRowsHeader} from '../result/kinds/rows.js'

/** A result's data as text, by its kind (src/result/kinds/); plain unless given a terminal's style. */
export function renderData(data: ResultData, style: TextStyle = PLAIN): string[] {
  return renderKind(data, style)
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
