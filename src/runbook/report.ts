import {kindOf} from '../result/kinds/index.js'
import type {Sample} from '../result/kinds/kind.js'
import {renderFooter, renderHeader, renderInterval} from '../render/result.js'
import {combinedData} from './metrics.js'
import type {ReportFormats} from './report-files.js'
import type {CheckOutcome, RunbookReport, StepOutcome} from './run.js'

/**
 * The reports of a runbook run: Markdown for people, JUnit XML for CI systems, OpenMetrics, and the
 * Prometheus text format for node_exporter's textfile collector. Each is a pure function of the report.
 */

const MARK: Record<CheckOutcome['status'], string> = {pass: 'pass', fail: 'FAIL', unknown: 'unknown', skipped: 'skipped'}

function measuredText(check: CheckOutcome): string {
  if (check.reason) return check.reason
  return check.measured.map((m) => m.text).join('; ') || '-'
}

function stepStatus(step: StepOutcome): string {
  const backend = step.backend ? ` on ${step.backend.candidate} (${step.backend.name})` : ''
  if (step.status === 'ran') return `ran${backend} for ${step.seconds.toFixed(1)} s`
  return `${step.status}${backend}: ${step.reason ?? ''}`.trim()
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')

export function markdownReport(report: RunbookReport): string {
  const out: string[] = [
    `# Runbook ${report.runbook.name}: ${report.verdict.toUpperCase()}`,
    '',
    report.runbook.description,
    '',
    `- host: ${report.host.hostname}, kernel ${report.host.kernel}`,
    `- started ${report.startedAt}, ran ${report.seconds.toFixed(1)} s${report.interrupted ? ', interrupted' : ''}`,
    `- exit code ${report.exitCode}`,
    '',
    '| step | check | severity | status | measured |',
    '| --- | --- | --- | --- | --- |',
  ]
  for (const step of report.steps)
    for (const check of step.checks)
      out.push(`| ${step.name} | \`${cell(check.expect)}\` | ${check.severity} | ${MARK[check.status]} | ${cell(measuredText(check))} |`)
  for (const step of report.steps) {
    out.push('', `## ${step.name}: ${step.tool}`, '', stepStatus(step), '', `\`diag ${step.argv.join(' ')}\``)
    // The heat map the step wrote (its heatmap: field), linked for a reader of the report.
    if (step.heatmap !== null && step.result) out.push('', `Latency heat map: [${step.heatmap}](${encodeURI(step.heatmap)})`)
    if (!step.result) continue
    const lines = [...renderHeader(step.result)]
    for (let i = 0; i < step.result.intervals.length; i++) lines.push(...renderInterval(step.result, i))
    lines.push(...renderFooter(step.result))
    out.push('', '```', ...lines, '```')
  }
  return `${out.join('\n')}\n`
}

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')

/** One testsuite's testcases and counts, as JUnit XML lines (for one host's report). */
export interface JunitSuite {
  lines: string[]
  tests: number
  failures: number
  errors: number
  skipped: number
  seconds: number
}

/** One testcase per check (a step without checks is one testcase: that it ran). */
export function junitSuite(report: RunbookReport, name = report.runbook.name, hostname = report.host.hostname): JunitSuite {
  const cases: string[] = []
  let failures = 0
  let skipped = 0
  for (const step of report.steps) {
    const classname = xml(`${report.runbook.name}.${step.name}`)
    const checks = step.checks.length > 0 ? step.checks : [undefined]
    for (const check of checks) {
      const name = xml(check ? check.name : `${step.tool} runs`)
      const time = (step.seconds / checks.length).toFixed(3)
      let body = ''
      if (!check) {
        if (step.status === 'failed') {
          failures++
          body = `<failure message="${xml(step.reason ?? 'failed')}" type="stepFailed"/>`
        } else if (step.status !== 'ran') {
          skipped++
          body = `<skipped message="${xml(`${step.status}: ${step.reason ?? ''}`)}"/>`
        }
      } else if (check.status === 'fail' && check.severity === 'fail') {
        failures++
        body = `<failure message="${xml(measuredText(check))}" type="checkFailed">${xml(check.expect)}</failure>`
      } else if (check.status === 'skipped' || check.status === 'unknown') {
        skipped++
        body = `<skipped message="${xml(`${check.status}: ${measuredText(check)}`)}"/>`
      } else if (check.status === 'fail') {
        body = `<system-out>${xml(`warning: ${check.expect}: ${measuredText(check)}`)}</system-out>`
      } else {
        body = `<system-out>${xml(measuredText(check))}</system-out>`
      }
      cases.push(`    <testcase classname="${classname}" name="${name}" time="${time}">${body}</testcase>`)
    }
  }
  const counts = {tests: cases.length, failures, errors: 0, skipped, seconds: report.seconds}
  return {
    ...counts,
    lines: [
      `  <testsuite ${junitCounts(name, counts)} timestamp="${report.startedAt.replace(/\.\d+Z$/, '')}" hostname="${xml(hostname)}">`,
      ...cases,
      '  </testsuite>',
    ],
  }
}

/** The name and counts attributes a testsuite and testsuites share. */
export const junitCounts = (name: string, c: Omit<JunitSuite, 'lines'>) =>
  `name="${xml(name)}" tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" skipped="${c.skipped}" time="${c.seconds.toFixed(3)}"`

/** JUnit XML testsuites around testsuites, their counts added. */
export function junitDocument(name: string, seconds: number, suites: JunitSuite[]): string {
  const sum = (key: 'tests' | 'failures' | 'errors' | 'skipped') => suites.reduce((n, s) => n + s[key], 0)
  const counts = {tests: sum('tests'), failures: sum('failures'), errors: sum('errors'), skipped: sum('skipped'), seconds}
  return ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites ${junitCounts(name, counts)}>`, ...suites.flatMap((s) => s.lines), '</testsuites>', ''].join('\n')
}

export function junitReport(report: RunbookReport): string {
  return junitDocument(report.runbook.name, report.seconds, [junitSuite(report)])
}

export {xml as xmlText}

/** One metric family of the runbook's metrics, before it is written in either format. */
export interface Family {
  /** The family name as the Prometheus text format has it (a counter's ends in `_total`). */
  name: string
  type: Sample['type']
  help: string
  samples: {suffix: string; labels: Record<string, string>; value: number}[]
}

/** A gauge of one sample per entry, for families of the fleet's own (whether a host answered). */
export interface ExtraGauge {
  name: string
  help: string
  samples: {labels: Record<string, string>; value: number}[]
}

/**
 * Each step's metrics as families, by name: each kind's samples (src/result/kinds/), lost events
 * and checks; over several hosts' reports (a fleet run), each labelled with the host it is given.
 */
export function metricFamilies(reports: {report: RunbookReport; host: string}[], extra: ExtraGauge[] = []): Family[] {
  const families = new Map<string, Family>()
  const add = (name: string, type: Sample['type'], help: string, suffix: string, labels: Record<string, string>, value: number) => {
    const family = families.get(name) ?? {name, type, help, samples: []}
    family.samples.push({suffix, labels, value})
    families.set(name, family)
  }
  for (const gauge of extra) for (const sample of gauge.samples) add(gauge.name, 'gauge', gauge.help, '', sample.labels, sample.value)
  for (const {report, host} of reports) addReport(report, host, add)
  return [...families.values()].sort((a, b) => a.name.localeCompare(b.name))
}

type AddSample = (name: string, type: Sample['type'], help: string, suffix: string, labels: Record<string, string>, value: number) => void

function addReport(report: RunbookReport, host: string, add: AddSample): void {
  for (const step of report.steps) {
    const base = {host, runbook: report.runbook.name, step: step.name, tool: step.tool, backend: step.backend?.candidate ?? 'none'}
    add('diag_runbook_step_ran', 'gauge', 'Whether the step ran (1) or could not (0).', '', base, step.status === 'ran' ? 1 : 0)
    for (const check of step.checks) {
      const value = {pass: 1, fail: 0, unknown: -1, skipped: -1}[check.status]
      add('diag_runbook_check', 'gauge', 'A check: 1 passed, 0 failed, -1 could not be judged.', '', {...base, check: check.expect, severity: check.severity}, value)
    }
    const result = step.result
    if (!result) continue
    if (result.lost !== null) add('diag_lost_events', 'gauge', 'Events the backend lost during the step.', '', base, result.lost)
    const data = combinedData(result)
    if (!data) continue
    for (const sample of kindOf(data).samples(data)) add(sample.name, sample.type, sample.help, sample.suffix ?? '', {...base, ...sample.labels}, sample.value)
  }
}

const ownFamilies = (report: RunbookReport) => metricFamilies([{report, host: report.host.hostname}])

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
const labelSet = (pairs: Record<string, string>) =>
  `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`

/**
 * The Prometheus text format 0.0.4, what node_exporter's textfile collector (and `promtool check
 * metrics`) parse: counts as counters, log2 histograms as histograms with `le` buckets in seconds,
 * lost events and check outcomes as gauges; labels host, runbook, step, tool, backend.
 */
export function prometheusReport(report: RunbookReport): string {
  return prometheusText(ownFamilies(report))
}

export function prometheusText(families: Family[]): string {
  const out: string[] = []
  for (const family of families)
    out.push(
      `# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`,
      `# TYPE ${family.name} ${family.type}`,
      ...family.samples.map((s) => `${family.name}${s.suffix}${labelSet(s.labels)} ${s.value}`),
    )
  return `${out.join('\n')}\n`
}

/**
 * A number as OpenMetrics' canonical numbers have it (Go's %g, with ".0" where it has neither a
 * point nor an exponent): 1e-06, 0.000512, 1.0; for `le`, whose text is the label's value.
 */
export function canonicalNumber(value: number): string {
  if (value === Infinity) return '+Inf'
  if (value === 0) return '0.0'
  const [mantissa, exponent] = value.toExponential().split('e').map((part, i) => (i === 0 ? part : Number(part))) as [string, number]
  if (exponent < -4 || exponent >= 6)
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`
  const text = String(value)
  return /[.e]/.test(text) ? text : `${text}.0`
}

/**
 * OpenMetrics 1.0 text, which differs from the Prometheus text format where it matters here: a
 * counter's family is named without `_total` (its samples keep it), a family in seconds says so in
 * `# UNIT`, a histogram has `_count` only together with `_sum` (diag's log2 histograms keep no
 * sum, so neither), `le` values are canonical numbers, and `# EOF` ends the file. The two cannot be
 * one file: the Prometheus text parser (node_exporter's textfile collector, `promtool check
 * metrics`) reads a counter's `_total` samples under a family of another name as an untyped metric
 * of their own (promtool then fails it: no help), so --prometheus writes that format for them.
 */
export function openMetricsReport(report: RunbookReport): string {
  return openMetricsText(ownFamilies(report))
}

export function openMetricsText(families: Family[]): string {
  const out: string[] = []
  for (const family of families) {
    const name = family.type === 'counter' ? family.name.replace(/_total$/, '') : family.name
    out.push(`# TYPE ${name} ${family.type}`)
    if (name.endsWith('_seconds')) out.push(`# UNIT ${name} seconds`)
    out.push(`# HELP ${name} ${escapeLabel(family.help)}`)
    const hasSum = family.samples.some((s) => s.suffix === '_sum')
    for (const sample of family.samples) {
      if (family.type === 'histogram' && sample.suffix === '_count' && !hasSum) continue
      const le = sample.labels.le
      const labels = le === undefined ? sample.labels : {...sample.labels, le: le === '+Inf' ? le : canonicalNumber(Number(le))}
      const suffix = family.type === 'counter' ? '_total' : sample.suffix
      out.push(`${name}${suffix}${labelSet(labels)} ${sample.value}`)
    }
  }
  out.push('# EOF')
  return `${out.join('\n')}\n`
}

/** Every report of one runbook run, by its flag (`diag runbook run --junit FILE`...). */
export const RUNBOOK_REPORTS: ReportFormats<RunbookReport> = {report: markdownReport, junit: junitReport, openmetrics: openMetricsReport, prometheus: prometheusReport}
