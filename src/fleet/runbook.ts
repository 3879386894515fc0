import {randomBytes} from 'node:crypto'
import path from 'node:path'

import {isMap, isSeq, parseDocument} from 'yaml'

import {EXIT, RUNBOOK_EXIT} from '../errors.js'
import type {Runbook} from '../runbook/file.js'
import type {ReportFormats} from '../runbook/report-files.js'
import {junitDocument, junitCounts, junitSuite, markdownReport, metricFamilies, openMetricsText, prometheusText, xmlText, type ExtraGauge, type JunitSuite} from '../runbook/report.js'
import type {RunbookReport} from '../runbook/run.js'
import {writeOutputFile} from '../system/output-file.js'
import {shellQuote} from '../system/shell.js'
import type {HostStage} from './bundle.js'
import {type HostOutcome, type RemoteWork, stopsWithSession} from './fleet.js'

/**
 * A runbook on every host of a fleet: the local file is checked here, sent inside the remote
 * script (no copy step, no file left behind: the host runs it in a private temporary directory it
 * removes on every way out), and each host's own `diag runbook run --json` report comes back. A
 * step's heat map (heatmap: FILE) is written on the host in that directory, sent back after the
 * report, and saved here as FILE with the host's name before its extension.
 */

/** A heat map a step writes: its name on the host (in the run's directory), and here. */
export interface HeatmapFile {
  step: string
  remote: string
  local: string
}

export interface RemoteRunbook {
  /** The runbook as sent: the file's text, its heat maps renamed to files of the run's directory. */
  text: string
  heatmaps: HeatmapFile[]
}

/** What comes back from a host: its report, and the heat maps' contents by remote name. */
export interface HostRunbook {
  report: RunbookReport
  files: Map<string, string>
}

/** A local file name with the host's name before its extension: disk.svg -> disk.web1.svg. */
export function withHost(file: string, host: string): string {
  const {dir, name, ext} = path.parse(file)
  return path.join(dir, `${name}.${host.replace(/[^\w.-]/g, '_')}${ext}`)
}

/**
 * The runbook text to send: every step's `heatmap:` (a local path, maybe a variable) becomes a
 * plain file name in the host's run directory. `runbook` is the same text read and checked here:
 * its steps, in file order, say where each heat map goes locally.
 */
export function remoteRunbook(text: string, runbook: Runbook): RemoteRunbook {
  const doc = parseDocument(text)
  const steps = runbook.entries.flat()
  const heatmaps: HeatmapFile[] = []
  let index = 0
  const visit = (node: unknown) => {
    if (!isMap(node)) return
    const step = steps[index++]
    if (node.has('heatmap') && step?.heatmap !== undefined) {
      const remote = `heatmap-${index}.svg`
      node.set('heatmap', remote)
      heatmaps.push({step: step.name, remote, local: step.heatmap})
    }
  }
  const entries = doc.get('steps')
  if (isSeq(entries))
    for (const entry of entries.items) {
      const parallel = isMap(entry) ? entry.get('parallel') : undefined
      if (isSeq(parallel)) for (const step of parallel.items) visit(step)
      else visit(entry)
    }
  return {text: doc.toString(), heatmaps}
}

/**
 * The script a host runs: a private directory (mktemp -d, removed on every way out), the runbook
 * written there, diag run on it (ended with the ssh session), then its report and each heat map
 * after a line of `marker` and the file's name.
 */
export function runbookScript(runbook: RemoteRunbook, marker: string): (command: string) => string {
  return (command) =>
    [
      'umask 022',
      'd=$(mktemp -d "${TMPDIR:-/tmp}/diag-runbook.XXXXXX") || exit 1',
      `trap 'rm -rf "$d"' EXIT`,
      "trap 'exit 129' HUP INT PIPE TERM",
      'cd "$d" || exit 1',
      `printf '%s' ${shellQuote(runbook.text)} > runbook.yaml`,
      stopsWithSession(`${command} >report.json`, [
        'cat report.json',
        ...runbook.heatmaps.map((h) => `if [ -f ${h.remote} ]; then printf '\\n%s %s\\n' ${marker} ${h.remote}; cat ${h.remote}; fi`),
      ]),
    ].join('\n')
}

/** A fresh marker per run: no report or SVG holds it by chance. */
export const newMarker = () => `diag-file-${randomBytes(12).toString('hex')}`

export function parseHostRunbook(stdout: string, marker: string): HostRunbook {
  const [json, ...parts] = stdout.split(`\n${marker} `)
  const report = JSON.parse(json) as RunbookReport
  if (report.schema !== 'diag/runbook-report') throw new Error('not a runbook report')
  const files = new Map<string, string>()
  for (const part of parts) {
    const newline = part.indexOf('\n')
    files.set(part.slice(0, newline), part.slice(newline + 1))
  }
  return {report, files}
}

/** What `diag fleet run RUNBOOK --json` prints. */
export interface FleetRunbook {
  schema: 'diag/fleet-runbook-report'
  schemaVersion: 1
  runbook: {name: string; description: string; source: string; variables: Record<string, string>}
  startedAt: string
  seconds: number
  /** pass: every host passed; fail: a check failed on some host; incomplete: none failed, but a host or step could not be judged. */
  verdict: RunbookReport['verdict']
  exitCode: number
  hosts: (
    | {name: string; ok: true; seconds: number; copied: boolean; verdict: RunbookReport['verdict']; heatmaps: string[]; report: RunbookReport}
    | {name: string; ok: false; seconds: number; error: {stage: HostStage; message: string}}
  )[]
  errors: {host: string; stage: HostStage; message: string}[]
}

/**
 * Each host's report as if run here: its heat maps named with the host (the step's `heatmap` and
 * `--heatmap` in its command line), the runbook's source the local file.
 */
export function localReport(report: RunbookReport, host: string, runbook: Runbook, heatmaps: HeatmapFile[]): RunbookReport {
  const local = new Map(heatmaps.map((h) => [h.remote, withHost(h.local, host)]))
  return {
    ...report,
    runbook: {...report.runbook, source: runbook.source},
    steps: report.steps.map((step) => ({
      ...step,
      argv: step.argv.map((arg) => local.get(arg) ?? arg),
      heatmap: step.heatmap === null ? null : (local.get(step.heatmap) ?? step.heatmap),
    })),
  }
}

/**
 * Each host's answer as if run here: the heat maps it sent back saved under their local names
 * with the host's (checked writable before any host was asked), its report named after them.
 */
export async function localAnswers(outcomes: HostOutcome<HostRunbook>[], remote: RemoteRunbook, runbook: Runbook): Promise<HostOutcome<{report: RunbookReport; heatmaps: string[]}>[]> {
  const answers: HostOutcome<{report: RunbookReport; heatmaps: string[]}>[] = []
  for (const outcome of outcomes) {
    if (!outcome.ok) {
      answers.push(outcome)
      continue
    }
    const heatmaps: string[] = []
    for (const heatmap of remote.heatmaps) {
      const content = outcome.value.files.get(heatmap.remote)
      if (content === undefined) continue
      const file = withHost(heatmap.local, outcome.host.name)
      await writeOutputFile(`step ${heatmap.step}: heatmap:`, file, content)
      heatmaps.push(file)
    }
    answers.push({...outcome, value: {report: localReport(outcome.value.report, outcome.host.name, runbook, remote.heatmaps), heatmaps}})
  }
  return answers
}

export function fleetRunbook(runbook: Runbook, startedAt: Date, outcomes: HostOutcome<{report: RunbookReport; heatmaps: string[]}>[], interrupted: boolean): FleetRunbook {
  const verdicts = outcomes.map((o) => (o.ok ? o.value.report.verdict : 'incomplete'))
  const verdict = verdicts.includes('fail') ? 'fail' : verdicts.every((v) => v === 'pass') ? 'pass' : 'incomplete'
  const exitCode = verdict === 'fail' ? RUNBOOK_EXIT.checkFailed : verdict === 'pass' ? EXIT.ok : interrupted ? EXIT.interrupted : RUNBOOK_EXIT.incomplete
  return {
    schema: 'diag/fleet-runbook-report',
    schemaVersion: 1,
    runbook: {name: runbook.name, description: runbook.description, source: runbook.source, variables: runbook.variables},
    startedAt: startedAt.toISOString(),
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    verdict,
    exitCode,
    hosts: outcomes.map((o) =>
      o.ok
        ? {name: o.host.name, ok: true as const, seconds: o.seconds, copied: o.copied, verdict: o.value.report.verdict, heatmaps: o.value.heatmaps, report: o.value.report}
        : {name: o.host.name, ok: false as const, seconds: o.seconds, error: o.error},
    ),
    errors: outcomes.flatMap((o) => (o.ok ? [] : [{host: o.host.name, ...o.error}])),
  }
}

const checkCounts = (report: RunbookReport) => {
  const checks = report.steps.flatMap((s) => s.checks)
  const count = (...statuses: string[]) => checks.filter((c) => statuses.includes(c.status)).length
  return {passed: count('pass'), failed: count('fail'), unjudged: count('unknown', 'skipped')}
}

/** One line per host, for the terminal. */
export function renderFleetRunbook(fleet: FleetRunbook): string {
  const out = [`runbook ${fleet.runbook.name} on ${fleet.hosts.length} hosts: ${fleet.verdict.toUpperCase()}`]
  for (const host of fleet.hosts) {
    if (!host.ok) {
      out.push(`  ${host.name}: ${host.error.stage} failed: ${host.error.message}`)
      continue
    }
    const {passed, failed, unjudged} = checkCounts(host.report)
    const notRun = host.report.steps.filter((s) => s.status !== 'ran').length
    out.push(`  ${host.name}: ${host.verdict.toUpperCase()} (${passed} passed, ${failed} failed, ${unjudged} not judged; ${notRun} steps did not run)`)
  }
  return out.join('\n')
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')

/** A table of the hosts, then each host's own report, its headings a level down. */
export function fleetMarkdownReport(fleet: FleetRunbook): string {
  const out = [
    `# Runbook ${fleet.runbook.name} on ${fleet.hosts.length} hosts: ${fleet.verdict.toUpperCase()}`,
    '',
    fleet.runbook.description,
    '',
    `- started ${fleet.startedAt}, ran ${fleet.seconds.toFixed(1)} s`,
    `- exit code ${fleet.exitCode}`,
    '',
    '| host | verdict | kernel | passed | failed | not judged |',
    '| --- | --- | --- | --- | --- | --- |',
  ]
  for (const host of fleet.hosts) {
    if (!host.ok) {
      out.push(`| ${cell(host.name)} | no answer: ${cell(`${host.error.stage} failed: ${host.error.message}`)} | - | - | - | - |`)
      continue
    }
    const {passed, failed, unjudged} = checkCounts(host.report)
    out.push(`| ${cell(host.name)} | ${host.verdict.toUpperCase()} | ${cell(host.report.host.kernel)} | ${passed} | ${failed} | ${unjudged} |`)
  }
  for (const host of fleet.hosts) {
    if (!host.ok) continue
    let fenced = false
    const lines = markdownReport(host.report)
      .trimEnd()
      .split('\n')
      .map((line) => {
        if (line.startsWith('```')) fenced = !fenced
        return !fenced && line.startsWith('#') ? `#${line}` : line
      })
    lines[0] = `## ${host.name}: ${host.verdict.toUpperCase()}`
    out.push('', ...lines)
  }
  return `${out.join('\n')}\n`
}

/** One testsuite per host, named by it; a host without an answer is a testsuite of one error. */
export function fleetJunitReport(fleet: FleetRunbook): string {
  const suites = fleet.hosts.map((host): JunitSuite => {
    if (host.ok) return junitSuite(host.report, host.name, host.name)
    const counts = {tests: 1, failures: 0, errors: 1, skipped: 0, seconds: host.seconds}
    const message = xmlText(`${host.error.stage} failed: ${host.error.message}`)
    return {
      ...counts,
      lines: [
        `  <testsuite ${junitCounts(host.name, counts)} timestamp="${fleet.startedAt.replace(/\.\d+Z$/, '')}" hostname="${xmlText(host.name)}">`,
        `    <testcase classname="${xmlText(fleet.runbook.name)}" name="${xmlText(`runs on ${host.name}`)}" time="${host.seconds.toFixed(3)}"><error message="${message}" type="hostFailed"/></testcase>`,
        '  </testsuite>',
      ],
    }
  })
  return junitDocument(fleet.runbook.name, fleet.seconds, suites)
}

/** Every host's metrics, the `host` label its inventory name, and whether each host answered. */
function fleetFamilies(fleet: FleetRunbook) {
  const answered: ExtraGauge = {
    name: 'diag_fleet_host_answered',
    help: 'Whether the host ran the runbook and sent its report (1) or not (0: unreachable, refused, failed).',
    samples: fleet.hosts.map((h) => ({labels: {host: h.name, runbook: fleet.runbook.name}, value: h.ok ? 1 : 0})),
  }
  return metricFamilies(
    fleet.hosts.flatMap((h) => (h.ok ? [{report: h.report, host: h.name}] : [])),
    [answered],
  )
}

export const fleetPrometheusReport = (fleet: FleetRunbook) => prometheusText(fleetFamilies(fleet))
export const fleetOpenMetricsReport = (fleet: FleetRunbook) => openMetricsText(fleetFamilies(fleet))

/** Every report of a fleet's runbook run, by its flag (`diag fleet run RUNBOOK --junit FILE`...). */
export const FLEET_RUNBOOK_REPORTS: ReportFormats<FleetRunbook> = {
  report: fleetMarkdownReport,
  junit: fleetJunitReport,
  openmetrics: fleetOpenMetricsReport,
  prometheus: fleetPrometheusReport,
}

/** The work a host is given: `diag runbook run` on the runbook sent, its report and heat maps read back. */
export function runbookWork(runbook: RemoteRunbook, sets: string[]): RemoteWork<HostRunbook> {
  const marker = newMarker()
  return {
    args: ['runbook', 'run', 'runbook.yaml', '--ci', ...sets.flatMap((set) => ['--set', set])],
    parse: (stdout) => parseHostRunbook(stdout, marker),
    script: runbookScript(runbook, marker),
    // A report comes with each of these: passed, a check failed, not all judged, interrupted.
    answers: [RUNBOOK_EXIT.checkFailed, RUNBOOK_EXIT.incomplete, EXIT.interrupted],
  }
}
