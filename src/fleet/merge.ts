import {combineAll, renderKind} from '../result/kinds/index.js'
import type {ResultData, Row, Rows, ToolResult} from '../result/model.js'
import {parseSavedResult} from '../result/saved.js'
import type {TextStyle} from '../render/style.js'
import {columns} from '../render/table.js'
import {type HostOutcome, answeredExitCode} from './fleet.js'

/** What `diag fleet run TOOL --json` prints: the hosts' results merged, and each host's own. */
export interface FleetRun {
  schema: 'diag/fleet-result'
  schemaVersion: 1
  tool: string
  args: string[]
  /** diag's exit code: 0 when every host answered, 9 when one did not (as fleet capabilities and a fleet runbook). */
  exitCode: number
  /** Every host's data (all its intervals) combined, as the kind combines intervals; null when none answered. */
  merged: ResultData | null
  lost: number | null
  hosts: ({name: string; ok: true; seconds: number; copied: boolean; backend: ToolResult['backend']; data: ResultData | null; result: ToolResult} | {name: string; ok: false; seconds: number; error: {stage: string; message: string}})[]
  errors: {host: string; stage: string; message: string}[]
}

/** A tool's --json output: one JSON document, or a rows tool's NDJSON (its rows, then the summary line), read back whole. */
export function parseToolOutput(stdout: string): ToolResult {
  return parseSavedResult(stdout)
}

/**
 * Every host's rows as one table, the host's inventory name first: column `host`, or `fleetHost`
 * where the tool has a host column of its own (gethostlatency's looked-up name). In time order
 * where the rows have a clock column, by the first (tcplife's TIME, its close, not its START; a
 * stable sort: equal times keep the hosts' order), else host after host, each in the order it
 * printed them (its own time order).
 */
export function mergeRows(hosts: {name: string; data: Rows}[]): Rows | null {
  if (hosts.length === 0) return null
  const columns = hosts[0].data.columns
  const own = columns.some((c) => c.name === 'host')
  const column = own ? {name: 'fleetHost', title: 'FLEET_HOST'} : {name: 'host', title: 'HOST'}
  const clock = columns.find((c) => c.type === 'clock')?.name
  const rows: Row[] = hosts.flatMap(({name, data}) => data.rows.map((row) => ({[column.name]: name, ...row})))
  if (clock) {
    const at = (row: Row) => (typeof row[clock] === 'string' ? Date.parse(row[clock] as string) : Number.NaN)
    rows.sort((a, b) => (at(a) || 0) - (at(b) || 0))
  }
  const width = Math.max(column.title.length, ...hosts.map((h) => h.name.length))
  return {kind: 'rows', columns: [{...column, type: 'string', width}, ...columns], rows}
}

/** The hosts' data as one: rows gathered with their host (mergeRows), other kinds as the kind combines intervals. */
function mergeData(hosts: {name: string; data: ResultData}[]): ResultData | null {
  if (hosts.length > 0 && hosts.every((h) => h.data.kind === 'rows')) return mergeRows(hosts as {name: string; data: Rows}[])
  return combineAll(hosts.map((h) => h.data)) ?? null
}

export function fleetRun(tool: string, args: string[], outcomes: HostOutcome<ToolResult>[]): FleetRun {
  const hostData = outcomes.map((o) => (o.ok ? (combineAll(o.value.intervals.map((i) => i.data)) ?? null) : null))
  const answered = outcomes.filter((o) => o.ok)
  const losses = answered.map((o) => (o.ok ? o.value.lost : null))
  return {
    schema: 'diag/fleet-result',
    schemaVersion: 1,
    tool,
    args,
    exitCode: answeredExitCode(outcomes),
    merged: mergeData(outcomes.flatMap((o, i) => (hostData[i] ? [{name: o.host.name, data: hostData[i]}] : []))),
    lost: losses.length === 0 || losses.includes(null) ? null : losses.reduce<number>((sum, lost) => sum + (lost ?? 0), 0),
    hosts: outcomes.map((o, i) =>
      o.ok
        ? {name: o.host.name, ok: true as const, seconds: o.seconds, copied: o.copied, backend: o.value.backend, data: hostData[i], result: o.value}
        : {name: o.host.name, ok: false as const, seconds: o.seconds, error: o.error},
    ),
    errors: outcomes.flatMap((o) => (o.ok ? [] : [{host: o.host.name, ...o.error}])),
  }
}

/** The merged result, then by host: counts as one column per host, other kinds host by host. */
export function renderFleetRun(run: FleetRun, style: TextStyle): string {
  const ok = run.hosts.filter((h) => h.ok)
  const out = [`${run.tool} on ${ok.length} of ${run.hosts.length} hosts${run.lost ? `, ${run.lost} events lost` : ''}`]
  for (const host of ok) out.push(`  ${host.name}: ${host.backend.candidate} (${host.backend.name})`)
  if (run.merged) out.push('', 'All hosts', ...renderKind(run.merged, style))
  if (run.merged?.kind === 'counts') {
    const keys = run.merged.rows.map((r) => r.key)
    const countOf = (data: ResultData | null, key: string) => (data?.kind === 'counts' ? (data.rows.find((r) => r.key === key)?.count ?? 0) : 0)
    const header = [run.merged.key.toUpperCase(), 'TOTAL', ...ok.map((h) => h.name)]
    const rows = keys.map((key) => [key, String(countOf(run.merged, key)), ...ok.map((h) => String(countOf(h.data, key)))])
    out.push('', 'By host', ...columns([header, ...rows]))
  } else if (run.merged?.kind !== 'rows') {
    // Rows are all in the merged table already, each with its host.
    for (const host of ok) if (host.data) out.push('', host.name, ...renderKind(host.data, style))
  }
  if (run.errors.length > 0) {
    out.push('', `${run.errors.length} host${run.errors.length === 1 ? '' : 's'} without a result:`)
    for (const error of run.errors) out.push(`  ${error.host}: ${error.stage} failed: ${error.message}`)
  }
  return out.join('\n')
}
