import type {CapabilitiesReport} from '../plan/report.js'
import type {Section, Status} from '../probe/types.js'
import {PLAIN, type Paint, type TextStyle, paint} from './style.js'
import {columns} from './table.js'

const SECTION_TITLES: Record<Section, string> = {
  tracefs: 'Tracing file system (ftrace)',
  perf: 'perf events',
  bpf: 'BPF',
  privileges: 'Privileges and policy',
}

const MARK: Record<Status, string> = {available: '+ yes', unavailable: '- no', unknown: '? unknown'}

export function renderCapabilities(report: CapabilitiesReport, style: TextStyle = PLAIN): string {
  const {kernel, config, hostRoot, live, whatIf} = report.host
  const out: string[] = []
  const release = kernel ? `${kernel.release} (mainline ${kernel.version})` : 'unknown release'
  out.push(`Kernel ${release}; config ${config ? `from ${config.source}` : 'not found'}`)
  if (whatIf) out.push('What-if for a kernel that is not running: nothing was probed; every answer is inferred from its config and release')
  else if (!live) out.push(`Host tree under ${hostRoot}: probes that act on the running kernel were not run`)
  for (const section of Object.keys(SECTION_TITLES) as Section[]) {
    const rows = report.capabilities
      .filter((c) => c.section === section)
      .map((c) => [c.name, MARK[c.status], c.cached ? `${c.evidence}, cached` : c.evidence, c.detail])
    if (rows.length === 0) continue
    out.push('', SECTION_TITLES[section], ...columns(rows).map((line) => `  ${line}`))
  }
  out.push('', 'Routing (first usable candidate wins; --backend forces one)')
  for (const tool of report.tools) {
    const chosen = tool.chosen ? `${tool.chosen.id} [${tool.chosen.backend}]` : 'none'
    out.push(`  ${tool.tool}: ${chosen}, ${tool.why}`)
    for (const c of tool.candidates) {
      const mark = c.chosen ? '>' : c.usable ? '+' : '-'
      out.push(`    ${mark} ${c.id}: ${c.usable ? c.method : c.reasons.join('; ')}`)
    }
  }
  if (report.capabilities.some((c) => c.cached))
    out.push('', '"cached": probed earlier in this boot by the same diag build; `diag capabilities --refresh` probes anew')
  for (const warning of report.warnings) out.push('', `warning: ${warning}`)
  return out.map((line) => paintLine(line, style)).join('\n')
}

// Colour is laid over the finished lines, so that the columns are measured without it.
const STATUS_PAINT: [RegExp, Paint][] = [
  [/(?<= )\+ yes(?= )/, 'green'],
  [/(?<= )- no(?= )/, 'red'],
  [/(?<= )\? unknown(?= )/, 'yellow'],
]

function paintLine(line: string, style: TextStyle): string {
  if (!style.color) return line
  if (/^[A-Z]/.test(line)) return paint(style, line, 'bold') // a section title, or the kernel line
  if (/^ {4}> /.test(line)) return paint(style, line, 'green') // the candidate routing chose
  for (const [mark, colour] of STATUS_PAINT) if (mark.test(line)) return line.replace(mark, (text) => paint(style, text, colour))
  return line
}
