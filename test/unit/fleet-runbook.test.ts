import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import type {HostOutcome} from '../../src/fleet/fleet.js'
import type {FleetHost} from '../../src/fleet/inventory.js'
import {fleetRun, mergeRows, parseToolOutput, renderFleetRun} from '../../src/fleet/merge.js'
import {renderKind} from '../../src/result/kinds/index.js'
import {
  fleetJunitReport,
  fleetMarkdownReport,
  fleetOpenMetricsReport,
  fleetPrometheusReport,
  fleetRunbook,
  localReport,
  parseHostRunbook,
  remoteRunbook,
  runbookScript,
  withHost,
} from '../../src/fleet/runbook.js'
import {type FlagInfo, parseRunbook} from '../../src/runbook/file.js'
import type {RunbookReport} from '../../src/runbook/run.js'
import {PLAIN} from '../../src/render/style.js'
import type {Rows, ToolResult} from '../../src/result/model.js'
import {shellQuote} from '../../src/system/shell.js'
import {COLUMNS as TCPLIFE_COLUMNS} from '../../tools/tcplife/tool.js'
import {diag} from '../helpers/cli.js'
import {expectOpenMetrics} from '../helpers/openmetrics.js'

const JUNIT_XSD = fileURLToPath(new URL('../fixtures/junit.xsd', import.meta.url))
const host = (name: string): FleetHost => ({name, destination: name, groups: []})
const work = mkdtempSync(path.join(tmpdir(), 'diag-fleet-runbook-unit-'))
afterAll(() => rmSync(work, {recursive: true, force: true}))

describe('fleet run: rows from every host', () => {
  const rowsResult = (rows: Rows['rows'], columns: Rows['columns']): ToolResult => ({
    schema: 'diag/result',
    schemaVersion: 1,
    tool: 'tcpdrop',
    backend: {name: 'bpf', candidate: 'bpf-tp', method: 'm', attach: 'a'},
    route: {why: 'first choice', passedOver: []},
    kernel: 'k',
    startedAt: new Date(0).toISOString(),
    seconds: 5,
    command: null,
    lost: 0,
    intervals: [{time: new Date(0).toISOString(), seconds: 5, data: {kind: 'rows', columns, rows}}],
  })
  const clockColumns: Rows['columns'] = [
    {name: 'time', title: 'TIME', type: 'clock'},
    {name: 'pid', title: 'PID', type: 'integer'},
  ]
  const at = (s: number) => new Date(Date.UTC(2026, 10, 27, 12, 0, s)).toISOString()

  it('are all kept, each with its host, in time order where the rows have a clock', () => {
    const a = rowsResult([{time: at(1), pid: 1}, {time: at(5), pid: 2}], clockColumns)
    const b = rowsResult([{time: at(3), pid: 3}, {time: at(5), pid: 4}], clockColumns)
    // What a rows tool prints with --json: a line per row, then the summary line (rows left out).
    const ndjson = (result: ToolResult) => {
      const data = result.intervals[0].data as Rows
      return [...data.rows.map((row) => JSON.stringify({...row, type: 'row'})), JSON.stringify({type: 'summary', ...result, intervals: [{...result.intervals[0], data: {...data, rows: []}}], rowCount: data.rows.length})].join('\n')
    }
    const outcomes: HostOutcome<ToolResult>[] = [
      {host: host('web-a'), ok: true, copied: false, seconds: 1, value: parseToolOutput(ndjson(a))},
      {host: host('b'), ok: true, copied: false, seconds: 1, value: parseToolOutput(ndjson(b))},
      {host: host('gone'), ok: false, seconds: 1, error: {stage: 'connect', message: 'ssh: Connection refused'}},
    ]
    const run = fleetRun('tcpdrop', [], outcomes)
    const merged = run.merged as Rows
    expect(merged.columns.map((c) => c.name)).toEqual(['host', 'time', 'pid'])
    // Equal times keep the hosts' order (a stable sort).
    expect(merged.rows.map((r) => [r.host, r.pid])).toEqual([['web-a', 1], ['b', 3], ['web-a', 2], ['b', 4]])
    expect(run.hosts[0]).toMatchObject({ok: true, data: {rows: [{pid: 1}, {pid: 2}]}})
    const text = renderFleetRun(run, PLAIN)
    expect(text).toMatch(/^HOST +TIME +PID$/m)
    expect(text.match(/^(web-a|b) +\d\d:\d\d:\d\d +\d$/gm)).toHaveLength(4)
  })

  it("orders tcplife's sessions by when they closed (TIME), not when they began (START, JSON only)", () => {
    const session = (closed: number, began: number, lport: number) => ({time: at(closed), start: at(began), pid: 7, comm: 'curl', laddr: '10.0.0.1', lport, raddr: '10.0.0.9', rport: 443, txKb: 1, rxKb: 2, ms: (closed - began) * 1000, backend: 'bpf-tp-btf'})
    const merged = mergeRows([
      {name: 'a', data: {kind: 'rows', columns: TCPLIFE_COLUMNS, rows: [session(5, 0, 40001)]}},
      {name: 'b', data: {kind: 'rows', columns: TCPLIFE_COLUMNS, rows: [session(3, 2, 40002), session(6, 4, 40003)]}},
    ])!
    expect(merged.rows.map((r) => [r.host, r.lport])).toEqual([['b', 40002], ['a', 40001], ['b', 40003]])
    const text = renderKind(merged, PLAIN)
    expect(text[0]).toMatch(/^HOST +TIME +PID +COMM /)
    expect(text[0]).not.toContain('START')
  })

  it('without a clock column, host after host, each in the order it printed them', () => {
    const columns: Rows['columns'] = [{name: 'pid', title: 'PID', type: 'integer'}]
    const merged = mergeRows([
      {name: 'a', data: {kind: 'rows', columns, rows: [{pid: 2}, {pid: 1}]}},
      {name: 'b', data: {kind: 'rows', columns, rows: [{pid: 0}]}},
    ])
    expect(merged?.rows).toEqual([{pid: 2, host: 'a'}, {pid: 1, host: 'a'}, {pid: 0, host: 'b'}])
  })

  it("a tool's own host column (gethostlatency's looked-up name) is kept: the fleet's is fleetHost then", () => {
    const columns: Rows['columns'] = [{name: 'host', title: 'HOST', type: 'string'}]
    const merged = mergeRows([{name: 'web1', data: {kind: 'rows', columns, rows: [{host: 'localhost'}]}}])
    expect(merged?.columns.map((c) => [c.name, c.title])).toEqual([['fleetHost', 'FLEET_HOST'], ['host', 'HOST']])
    expect(merged?.rows).toEqual([{fleetHost: 'web1', host: 'localhost'}])
  })
})

const FLAGS: Record<string, Record<string, FlagInfo>> = {biolatency: {disks: {type: 'boolean'}, interval: {type: 'option'}}, syscount: {top: {type: 'option'}}}
const RUNBOOK = `name: fleet-look
variables:
  heatmap: out/disk.svg
steps:
  - name: calls
    tool: syscount
    duration: 1
    checks:
      - expect: lost == 0
  - parallel:
      - name: disks
        tool: biolatency
        duration: 1
        heatmap: \${heatmap}
      - name: disks-again
        tool: biolatency
        duration: 1
`

describe('fleet run RUNBOOK: what is sent, and what comes back', () => {
  const runbook = parseRunbook(RUNBOOK, '/here/fleet-look.yaml', {flagsOf: (tool) => FLAGS[tool]})

  it("sends the runbook with each heat map a file of the host's run directory, and saves it here with the host in its name", () => {
    const remote = remoteRunbook(RUNBOOK, runbook)
    expect(remote.heatmaps).toEqual([{step: 'disks', remote: 'heatmap-2.svg', local: 'out/disk.svg'}])
    const sent = parseRunbook(remote.text, 'runbook.yaml', {flagsOf: (tool) => FLAGS[tool]})
    expect(sent.entries.flat().map((s) => s.heatmap)).toEqual([undefined, 'heatmap-2.svg', undefined])
    expect(withHost('out/disk.svg', 'web1.example.com')).toBe('out/disk.web1.example.com.svg')
    expect(withHost('/x/disk.svg', 'ops@[::1]:22')).toBe('/x/disk.ops____1__22.svg')
  })

  it('the remote script runs diag in a private directory, sends back its report and heat maps after a marker, and leaves nothing behind', async () => {
    const remote = remoteRunbook(RUNBOOK, runbook)
    const marker = 'diag-file-test'
    const tmp = mkdtempSync(path.join(work, 'tmp-'))
    // A stand-in for diag: checks the runbook it was given is there, then writes a report and a heat map.
    const fake = `sh -c ${shellQuote('grep -q "heatmap: heatmap-2.svg" runbook.yaml || exit 3; printf "<svg>\\n%s\\n</svg>\\n" "$PWD" > heatmap-2.svg; echo "{\\"schema\\":\\"diag/runbook-report\\",\\"verdict\\":\\"fail\\"}"; exit 8')}`
    const run = await execa('sh', ['-c', runbookScript(remote, marker)(fake)], {reject: false, env: {TMPDIR: tmp}, stdin: 'pipe'})
    expect(run.exitCode, run.stderr).toBe(8)
    const back = parseHostRunbook(run.stdout, marker)
    expect(back.report).toMatchObject({verdict: 'fail'})
    expect([...back.files.keys()]).toEqual(['heatmap-2.svg'])
    expect(back.files.get('heatmap-2.svg')).toMatch(/^<svg>\n.*diag-runbook\.\w+\n<\/svg>\n?$/)
    expect(readdirSync(tmp)).toEqual([])
  })

  const report = (verdict: RunbookReport['verdict'], checkStatus: 'pass' | 'fail'): RunbookReport => ({
    schema: 'diag/runbook-report',
    schemaVersion: 1,
    runbook: {name: 'fleet-look', description: 'd', source: 'runbook.yaml', variables: {}},
    host: {hostname: 'same-machine', kernel: '6.1.0'},
    startedAt: new Date(0).toISOString(),
    seconds: 2,
    verdict,
    interrupted: false,
    exitCode: verdict === 'pass' ? 0 : 8,
    steps: [
      {
        name: 'calls',
        tool: 'syscount',
        argv: ['syscount', '--duration', '1'],
        status: 'ran',
        backend: {name: 'bpf', candidate: 'bpf-tp-btf'},
        reason: null,
        exitCode: 0,
        seconds: 1,
        result: {
          schema: 'diag/result',
          schemaVersion: 1,
          tool: 'syscount',
          backend: {name: 'bpf', candidate: 'bpf-tp-btf', method: 'm', attach: 'a'},
          route: {why: 'first', passedOver: []},
          kernel: '6.1.0',
          startedAt: new Date(0).toISOString(),
          seconds: 1,
          command: null,
          lost: 0,
          intervals: [{time: new Date(0).toISOString(), seconds: 1, data: {kind: 'counts', key: 'syscall', rows: [{key: 'read', count: 3}]}}],
        },
        checks: [{name: 'lost == 0', expect: 'lost == 0', severity: 'fail', status: checkStatus, measured: [{metric: 'lost', value: 0, text: 'lost = 0'}]}],
        heatmap: null,
      },
      {name: 'disks', tool: 'biolatency', argv: ['biolatency', '--duration', '1', '--heatmap', 'heatmap-2.svg'], status: 'skipped', backend: null, reason: 'no backend', exitCode: 3, seconds: 0, result: null, checks: [], heatmap: 'heatmap-2.svg'},
    ],
  })

  it('verdicts per host, and the reports with the host in each: JUnit a testsuite per host, metrics a host label on every sample', async () => {
    const remote = remoteRunbook(RUNBOOK, runbook)
    const outcomes = [
      {host: host('a'), ok: true as const, copied: false, seconds: 2, value: {report: localReport(report('pass', 'pass'), 'a', runbook, remote.heatmaps), heatmaps: []}},
      {host: host('b'), ok: true as const, copied: true, seconds: 2, value: {report: localReport(report('fail', 'fail'), 'b', runbook, remote.heatmaps), heatmaps: ['out/disk.b.svg']}},
      {host: host('gone'), ok: false as const, seconds: 1, error: {stage: 'connect' as const, message: 'ssh: Connection refused <&>'}},
    ]
    const fleet = fleetRunbook(runbook, new Date(0), outcomes, false)
    expect(fleet.verdict).toBe('fail')
    expect(fleet.exitCode).toBe(8)
    expect(fleet.hosts.map((h) => [h.name, h.ok && h.verdict])).toEqual([['a', 'pass'], ['b', 'fail'], ['gone', false]])
    // The step's command line names the heat map as saved here, and the runbook its local file.
    const b = fleet.hosts[1]
    expect(b.ok && b.report.steps[1].argv).toEqual(['biolatency', '--duration', '1', '--heatmap', 'out/disk.b.svg'])
    expect(b.ok && b.report.runbook.source).toBe('/here/fleet-look.yaml')
    // A host without an answer leaves the fleet incomplete (or interrupted), never passed.
    expect(fleetRunbook(runbook, new Date(0), [outcomes[0], outcomes[2]], false)).toMatchObject({verdict: 'incomplete', exitCode: 9})
    expect(fleetRunbook(runbook, new Date(0), [outcomes[0], outcomes[2]], true)).toMatchObject({verdict: 'incomplete', exitCode: EXIT.interrupted})
    expect(fleetRunbook(runbook, new Date(0), [outcomes[0]], false)).toMatchObject({verdict: 'pass', exitCode: EXIT.ok})

    const junit = path.join(work, 'fleet.xml')
    writeFileSync(junit, fleetJunitReport(fleet))
    const xmllint = spawnSync('xmllint', ['--noout', '--schema', JUNIT_XSD, junit], {encoding: 'utf8'})
    expect(xmllint.status, xmllint.stderr).toBe(0)
    const xml = fleetJunitReport(fleet)
    expect(xml.match(/<testsuite /g)).toHaveLength(3)
    expect(xml).toContain('<testsuites name="fleet-look" tests="5" failures="1" errors="1" skipped="2"')
    expect(xml).toContain('<testsuite name="gone" tests="1" failures="0" errors="1" skipped="0"')
    expect(xml).toContain('<error message="connect failed: ssh: Connection refused &lt;&amp;&gt;" type="hostFailed"/>')

    const prometheus = fleetPrometheusReport(fleet)
    const promtool = spawnSync('promtool', ['check', 'metrics'], {input: prometheus, encoding: 'utf8'})
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0)
    const samples = prometheus.split('\n').filter((l) => l && !l.startsWith('#'))
    for (const sample of samples) expect(sample).toMatch(/[{,]host="(a|b|gone)"/)
    expect(prometheus).toContain('diag_fleet_host_answered{host="gone",runbook="fleet-look"} 0')
    expect(samples.filter((s) => s.startsWith('diag_events_total'))).toHaveLength(2)
    expectOpenMetrics(fleetOpenMetricsReport(fleet), work)

    const markdown = fleetMarkdownReport(fleet)
    expect(markdown).toMatch(/^# Runbook fleet-look on 3 hosts: FAIL$/m)
    expect(markdown).toMatch(/^\| b \| FAIL \| 6\.1\.0 \| 0 \| 1 \| 0 \|$/m)
    expect(markdown).toMatch(/^\| gone \| no answer: connect failed: ssh: Connection refused <&> \|/m)
    expect(markdown).toMatch(/^## b: FAIL$/m)
    expect(markdown).toMatch(/^### calls: syscount$/m)
    expect(markdown).toContain('`diag biolatency --duration 1 --heatmap out/disk.b.svg`')
  })
})

describe('fleet flags refused before any host is asked', () => {
  const inventory = path.join(work, 'hosts.txt')
  writeFileSync(inventory, '127.0.0.1:1\n')

  it('--identity-file that cannot be read: exit 2', async () => {
    const run = await diag(['fleet', 'capabilities', '--hosts', inventory, '--identity-file', path.join(work, 'no-key')])
    expect(run.exitCode).toBe(EXIT.badInput)
    expect(run.stderr).toContain(`--identity-file ${path.join(work, 'no-key')}: no such file`)
    expect(existsSync(path.join(work, 'no-key'))).toBe(false)
  })

  it('runbook flags with a tool, a runbook with arguments after --, a runbook that does not check: exit 2', async () => {
    const withTool = await diag(['fleet', 'run', 'syscount', '--hosts', inventory, '--junit', path.join(work, 'x.xml'), '--', '-d', '1'])
    expect(withTool.exitCode).toBe(EXIT.badInput)
    expect(withTool.stderr).toContain('--junit is for runbooks; syscount is a tool')
    const withArgs = await diag(['fleet', 'run', 'first-look', '--hosts', inventory, '--', '-d', '1'])
    expect(withArgs.exitCode).toBe(EXIT.badInput)
    expect(withArgs.stderr).toContain('first-look is a runbook, which takes no arguments after --')
    const bad = path.join(work, 'bad.yaml')
    writeFileSync(bad, 'name: bad\nsteps:\n  - tool: nosuchtool\n    duration: 1\n')
    const refused = await diag(['fleet', 'run', bad, '--hosts', inventory])
    expect(refused.exitCode).toBe(EXIT.badInput)
    expect(refused.stderr).toContain('unknown tool "nosuchtool"')
  })
})
