import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {ExpressionError, parseExpression} from '../../src/runbook/expression.js'
import {type FlagInfo, RunbookError, parseRunbook} from '../../src/runbook/file.js'
import {builtinRunbooks} from '../../src/runbook/library.js'
import {checkExpression, evaluate} from '../../src/runbook/metrics.js'
import {canonicalNumber, junitReport, markdownReport, openMetricsReport, prometheusReport} from '../../src/runbook/report.js'
import {checkReportFiles, writeReportFiles} from '../../src/runbook/report-files.js'
import {EXIT, ReportWriteError, RUNBOOK_EXIT} from '../../src/errors.js'
import {expectOpenMetrics} from '../helpers/openmetrics.js'
import {type StartStep, runRunbook, runStep} from '../../src/runbook/run.js'
import type {ResultData, ToolResult} from '../../src/result/model.js'
import {fakeResult} from '../helpers/results.js'

// The flags of the tools as oclif's manifest describes them, for the parts the runbook reads.
const FLAGS: Record<string, Record<string, FlagInfo>> = {
  syscount: {by: {type: 'option', options: ['syscall', 'process']}, top: {type: 'option'}, syscall: {type: 'option', multiple: true}, backend: {type: 'option'}, json: {type: 'boolean'}},
  runqlat: {unit: {type: 'option', options: ['us', 'ms']}, interval: {type: 'option'}},
  biolatency: {disks: {type: 'boolean'}, unit: {type: 'option', options: ['us', 'ms']}, interval: {type: 'option'}},
  funccount: {top: {type: 'option'}},
  offcputime: {},
  profile: {},
}
const flagsOf = (tool: string) => FLAGS[tool]

const result = (data: ResultData, lost: number | null = 0) => fakeResult(data.kind === 'counts' ? 'syscount' : 'runqlat', data, {lost})

// 100 samples in usecs: 90 in [0,1], 9 in [8,15], 1 in [1024,2047].
const LATENCY = result({
  kind: 'histograms',
  unit: 'usecs',
  labelKey: null,
  histograms: [{label: null, count: 100, buckets: [{low: 0, high: 1, count: 90}, {low: 8, high: 15, count: 9}, {low: 1024, high: 2047, count: 1}]}],
})
const SYSCALLS = result({kind: 'counts', key: 'syscall', rows: [{key: 'read', count: 70}, {key: 'openat', count: 30}]}, null)

describe('the check language', () => {
  it('parses comparisons joined by and/or, with units and selectors', () => {
    expect(parseExpression('p99 < 10ms')).toMatchObject({kind: 'compare', op: '<', left: {kind: 'metric', name: 'p99'}, right: {kind: 'number', value: 10, unit: 'ms'}})
    expect(parseExpression('count(syscall == "openat") <= 100000')).toMatchObject({left: {name: 'count', selector: {key: 'syscall', value: 'openat'}}})
    expect(parseExpression('count == 0 or (p50 < 2ms && lost == 0)')).toMatchObject({kind: 'or', right: {kind: 'and'}})
    expect(parseExpression('1.5s > max')).toMatchObject({left: {kind: 'number', value: 1.5, unit: 's'}, right: {name: 'max'}})
  })

  it.for([
    ['p99 <', 6, /expected a metric/],
    ['p99 < 10 ms', 10, /expected and, or, or the end/],
    ['p99 = 3ms', 5, /unexpected "="/],
    ['count(syscall = "x") < 3', 15, /unexpected "="/],
    ['count(syscall == x) < 3', 18, /expected a "quoted" value/],
    ['p99 < 10qs', 7, /not a number with a unit/],
    ['(p99 < 1ms', 11, /expected \)/],
  ] as const)('refuses %s at column %d', ([text, column, message]) => {
    let error: unknown
    try {
      parseExpression(text)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ExpressionError)
    expect((error as ExpressionError).message).toMatch(message)
    expect((error as ExpressionError).column).toBe(column)
  })

  it('knows which metrics a tool gives and what they compare with', () => {
    const check = (text: string, kind: 'counts' | 'histograms') => () => checkExpression(parseExpression(text), text, kind)
    expect(check('p99 < 10ms', 'histograms')).not.toThrow()
    expect(check('p99 < 10', 'histograms')).toThrow(/is a time: give 10 a unit/)
    expect(check('lost == 0ms', 'counts')).toThrow(/is a count: 0ms takes no unit/)
    expect(check('p99 < 10ms', 'counts')).toThrow(/needs a histogram; this tool gives counts/)
    expect(check('p101 < 10ms', 'histograms')).toThrow(/unknown metric "p101"/)
    expect(check('lost(x == "y") == 0', 'counts')).toThrow(/takes no selector/)
    expect(check('p99 < p50', 'histograms')).toThrow(/one metric with a number/)
  })

  it('takes percentiles at the upper edge of their log2 bucket', () => {
    const value = (text: string) => evaluate(parseExpression(`${text} < 1s`), LATENCY).measured[0]
    expect(value('p50')).toMatchObject({value: 2_000, text: 'p50 < 2 us (log2 bucket 0 ns to 2 us)'})
    expect(value('p90').value).toBe(2_000)
    expect(value('p91').value).toBe(16_000)
    expect(value('p99').value).toBe(16_000)
    expect(value('p100').value).toBe(2_048_000)
    expect(value('max').value).toBe(2_048_000)
    expect(value('count').value).toBe(100)
  })

  it('judges pass, fail, and unknown when the result cannot tell', () => {
    const verdict = (text: string, r: ToolResult) => evaluate(parseExpression(text), r).verdict
    expect(verdict('p99 < 20us', LATENCY)).toBe('pass')
    expect(verdict('p99 < 10us', LATENCY)).toBe('fail')
    expect(verdict('count(syscall == "openat") < 31', SYSCALLS)).toBe('pass')
    expect(verdict('count(syscall == "openat") < 30', SYSCALLS)).toBe('fail')
    expect(verdict('count == 100 and rows == 2', SYSCALLS)).toBe('pass')
    expect(verdict('lost == 0', SYSCALLS)).toBe('unknown')
    expect(verdict('lost == 0 or count > 1', SYSCALLS)).toBe('pass')
    expect(verdict('lost == 0 and count > 1000', SYSCALLS)).toBe('fail')
    expect(verdict('count(process == "x") == 0', SYSCALLS)).toBe('unknown')
    const empty = result({kind: 'histograms', unit: 'usecs', labelKey: null, histograms: []})
    expect(verdict('p99 < 1ms', empty)).toBe('unknown')
    expect(verdict('count == 0 or p99 < 1ms', empty)).toBe('pass')
  })
})

describe('a runbook file', () => {
  const parse = (text: string, set?: Record<string, string>) => parseRunbook(text, 'test.yaml', {flagsOf, set})
  const refusal = (text: string) => {
    try {
      parse(text)
    } catch (error) {
      expect(error).toBeInstanceOf(RunbookError)
      return (error as RunbookError).message
    }
    throw new Error('accepted')
  }

  it('becomes diag command lines, with variables filled in and --set over the defaults', () => {
    const runbook = parse(
      [
        'name: t',
        'variables: {duration: 5}',
        'steps:',
        '  - tool: syscount',
        '    duration: ${duration}',
        '    flags: {by: process, syscall: [read, write], top: 3}',
        '    checks: ["count < 10"]',
        '  - parallel:',
        '      - {tool: runqlat, duration: 1, checks: [{expect: "p99 < ${limit}", severity: warn, name: "within ${limit}"}]}',
        '      - {tool: biolatency, duration: 1, flags: {disks: true}}',
      ].join('\n'),
      {duration: '2', limit: '4ms'},
    )
    expect(runbook.entries.map((e) => e.map((s) => s.argv))).toEqual([
      [['syscount', '--by', 'process', '--syscall', 'read', '--syscall', 'write', '--top', '3', '--duration', '2']],
      [['runqlat', '--duration', '1'], ['biolatency', '--disks', '--duration', '1']],
    ])
    expect(runbook.entries[1][0].checks[0]).toMatchObject({expect: 'p99 < 4ms', name: 'within 4ms', severity: 'warn'})
  })

  it.for([
    ['name: t\nsteps:\n  - tool: syscount\n   duration: 1\n', /test.yaml:4:1: Sequence item without/],
    ['name: t\nsteps:\n  - tool: runqlot\n    duration: 1\n', /test.yaml:3:11: unknown tool "runqlot"/],
    ['name: t\nsteps:\n  - tool: syscount\n    durations: 1\n', /test.yaml:4:5: \/steps\/0: unknown field "durations"/],
    ['name: t\nsteps:\n  - tool: syscount\n    duration: 1\n    flags: {bye: process}\n', /test.yaml:5:13: syscount has no flag "bye"/],
    ['name: t\nsteps:\n  - tool: syscount\n    duration: 1\n    flags: {by: thread}\n', /test.yaml:5:17: --by is one of syscall, process, not thread/],
    ['name: t\nsteps:\n  - tool: syscount\n    duration: 1\n    flags: {json: true}\n', /syscount has no flag "json" that a step may set/],
    ['name: t\nsteps:\n  - tool: syscount\n', /test.yaml:3:5: step "syscount" needs a duration/],
    ['name: t\nsteps:\n  - tool: syscount\n    duration: ${d}\n', /test.yaml:4:15: no variable "d"/],
    ['name: t\nsteps:\n  - tool: runqlat\n    duration: 1\n    checks:\n      - "p99 < 10 ms"\n', /test.yaml:6:19: expected and, or, or the end, found "ms"/],
    ['name: t\nsteps:\n  - {tool: runqlat, duration: 1}\n  - {tool: runqlat, duration: 2}\n', /test.yaml:4:12: a second step named "runqlat"/],
  ] as const)('is refused with the line and column of its mistake: %s', ([text, message]) => {
    expect(refusal(text)).toMatch(message)
  })

  it('includes the built-in runbooks, which are valid', () => {
    const builtins = builtinRunbooks()
    expect(builtins.map((r) => r.name)).toEqual(expect.arrayContaining(['first-look', 'disk-latency']))
    for (const runbook of builtins) expect(() => parseRunbook(execFileSync('cat', [runbook.file], {encoding: 'utf8'}), runbook.file, {flagsOf: (t) => ({...FLAGS[t], top: {type: 'option'}})})).not.toThrow()
  })
})

/** A step process that answers at once, as a diag would have. */
function fakeStart(answers: Record<string, {exitCode: number; stdout: string}>): StartStep {
  return (argv) => {
    const answer = answers[argv[0]]
    return {
      ready: Promise.resolve(answer.exitCode === 0 ? {candidate: 'bpf-tp-btf', backend: 'bpf'} : undefined),
      done: Promise.resolve({...answer, stderr: ''}),
      interrupt: () => {},
    }
  }
}

describe('running a runbook', () => {
  const runbook = parseRunbook(
    [
      'name: t',
      'steps:',
      '  - {tool: syscount, duration: 1, checks: ["count(syscall == \\"read\\") == 70", {expect: "lost == 0", severity: warn}]}',
      '  - {tool: runqlat, duration: 1, heatmap: runqlat.svg, checks: ["p99 < 10us"]}',
      '  - {tool: funccount, duration: 1, args: ["vfs_*"], checks: ["count > 0"]}',
    ].join('\n'),
    'test.yaml',
    {flagsOf},
  )
  const notSupported = JSON.stringify({error: {kind: 'notSupported', exitCode: 3, message: 'funccount cannot run on this host'}})
  const start = fakeStart({
    syscount: {exitCode: 0, stdout: JSON.stringify(SYSCALLS)},
    runqlat: {exitCode: 0, stdout: JSON.stringify(LATENCY)},
    funccount: {exitCode: 3, stdout: notSupported},
  })
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-runbook-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('judges each step, skips what cannot run with its reason, and exits 8 on a failed check', async () => {
    const signal = new AbortController().signal
    const report = await runRunbook(runbook, (entry) => Promise.all(entry.map((s) => runStep(s, start, signal))), signal)
    expect(report.steps.map((s) => [s.name, s.status])).toEqual([
      ['syscount', 'ran'],
      ['runqlat', 'ran'],
      ['funccount', 'skipped'],
    ])
    // The step's heat map is carried into its outcome from its heatmap: field.
    expect(report.steps.map((s) => s.heatmap)).toEqual([null, 'runqlat.svg', null])
    expect(report.steps[0].checks.map((c) => c.status)).toEqual(['pass', 'unknown'])
    expect(report.steps[1].checks[0]).toMatchObject({status: 'fail', measured: [{text: 'p99 < 16 us (log2 bucket 8 us to 16 us)'}]})
    expect(report.steps[2].checks[0]).toMatchObject({status: 'skipped', reason: 'funccount cannot run on this host'})
    expect(report).toMatchObject({verdict: 'fail', exitCode: RUNBOOK_EXIT.checkFailed})

    const junit = path.join(dir, 'out.xml')
    writeFileSync(junit, junitReport(report))
    const xmllint = spawnSync('xmllint', ['--noout', '--schema', new URL('../fixtures/junit.xsd', import.meta.url).pathname, junit], {encoding: 'utf8'})
    expect(xmllint.error, 'xmllint (libxml2-utils) is installed by scripts/setup.sh').toBeUndefined()
    expect(xmllint.status, xmllint.stderr).toBe(0)
    expect(junitReport(report)).toMatch(/<testsuites name="t" tests="4" failures="1" errors="0" skipped="2"/)

    const promtool = spawnSync('promtool', ['check', 'metrics'], {input: prometheusReport(report), encoding: 'utf8'})
    expect(promtool.error, 'promtool (prometheus) is installed by scripts/setup.sh').toBeUndefined()
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0)
    expect(prometheusReport(report)).toContain('diag_latency_seconds_bucket{host=')
    expect(prometheusReport(report)).toContain('le="0.000016"} 99')
    expect(prometheusReport(report)).toMatch(/^# TYPE diag_events_total counter$/m)
    expectOpenMetrics(openMetricsReport(report), dir)

    expect(markdownReport(report)).toContain('| runqlat | `p99 < 10us` | fail | FAIL | p99 < 16 us (log2 bucket 8 us to 16 us) |')
    expect(markdownReport(report)).toContain('Latency heat map: [runqlat.svg](runqlat.svg)')
  })

  it('exits 9 when nothing failed but a step could not run, and passes only when every check did', async () => {
    const signal = new AbortController().signal
    const run = (rb: typeof runbook) => runRunbook(rb, (entry) => Promise.all(entry.map((s) => runStep(s, start, signal))), signal)
    const withoutRunqlat = {...runbook, entries: runbook.entries.filter((e) => e[0].tool !== 'runqlat')}
    expect(await run(withoutRunqlat)).toMatchObject({verdict: 'incomplete', exitCode: RUNBOOK_EXIT.incomplete})
    const onlySyscount = {...runbook, entries: [[{...runbook.entries[0][0], checks: runbook.entries[0][0].checks.slice(0, 1)}]]}
    expect(await run(onlySyscount)).toMatchObject({verdict: 'pass', exitCode: 0})
  })
})

describe('the metrics files', () => {
  it("write le as OpenMetrics' canonical numbers (Go's %g, .0 on a bare integer)", () => {
    expect([1e-10, 1e-5, 2e-6, 0.0001, 0.000512, 0.1, 1, 10, 100_000, 1e6, 1.1e23, 0, Infinity].map(canonicalNumber)).toEqual([
      '1e-10',
      '1e-05',
      '2e-06',
      '0.0001',
      '0.000512',
      '0.1',
      '1.0',
      '10.0',
      '100000.0',
      '1e+06',
      '1.1e+23',
      '0.0',
      '+Inf',
    ])
  })
})

describe('the report files (diag runbook run and diag fleet run RUNBOOK)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-report-files-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))
  // A stand-in for a runbook's or a fleet's report: its exit code is all the writing looks at.
  type Run = {exitCode: number}
  const run = (exitCode: number): Run => ({exitCode})
  const formats = {report: (r: Run) => `md ${r.exitCode}`, junit: (r: Run) => `xml ${r.exitCode}`, openmetrics: () => 'om', prometheus: (r: Run) => `prom ${r.exitCode}`}

  it('refuses a path that could not be written, naming its flag, before any work', async () => {
    mkdirSync(path.join(dir, 'a-directory'))
    await expect(checkReportFiles({junit: path.join(dir, 'a-directory')})).rejects.toThrow(/^--junit .*: is a directory$/)
    await expect(checkReportFiles({report: path.join(dir, 'ok.md'), openmetrics: undefined})).resolves.toBeUndefined()
  })

  it('writes only the reports asked for, in the flags\' order, and gives back their files and the run\'s exit', async () => {
    const files = {prometheus: path.join(dir, 'out.prom'), report: path.join(dir, 'out.md'), openmetrics: undefined}
    expect(await writeReportFiles(files, formats, run(0))).toEqual({written: [files.report, files.prometheus], failure: undefined, exitCode: 0})
    expect(readFileSync(files.report, 'utf8')).toBe('md 0')
    expect(readFileSync(files.prometheus, 'utf8')).toBe('prom 0')
    expect(existsSync(path.join(dir, 'out.xml'))).toBe(false)
  })

  // A write that failed after the run threw exit 2 ("refused before touching the kernel"): a failed
  // check's 8 was lost, and so was the run's result.
  it('a report that cannot be written is named with its flag and file, after the others were written, and keeps a failed verdict\'s exit', async () => {
    const files = {report: path.join(dir, 'gone', 'out.md'), junit: path.join(dir, 'out2.xml')}
    for (const verdict of [RUNBOOK_EXIT.checkFailed, RUNBOOK_EXIT.incomplete, EXIT.interrupted]) {
      const reports = await writeReportFiles(files, formats, run(verdict))
      expect(reports).toMatchObject({written: [files.junit], exitCode: verdict})
      expect(reports.failure).toBeInstanceOf(ReportWriteError)
      expect(reports.failure?.message).toMatch(/^--report .*gone\/out\.md: could not write it: ENOENT.*; written: .*out2\.xml$/)
      expect(readFileSync(files.junit, 'utf8')).toBe(`xml ${verdict}`)
    }
  })

  it('a passing run whose report cannot be written exits 10, never 0', async () => {
    const reports = await writeReportFiles({openmetrics: path.join(dir, 'gone', 'out.om')}, formats, run(0))
    expect(reports).toMatchObject({written: [], exitCode: EXIT.reportNotWritten})
    expect(EXIT.reportNotWritten).toBe(10)
    expect(reports.failure?.toJSON()).toMatchObject({error: {kind: 'reportNotWritten', exitCode: 10, message: expect.stringMatching(/^--openmetrics .*gone\/out\.om: could not write it: ENOENT/)}})
  })
})

describe('stacks in a runbook', () => {
  // Off-CPU time in usecs: 3 s and 1.5 s; profile's samples.
  const OFFCPU = fakeResult('offcputime', {kind: 'stacks', unit: 'usecs', stacks: [{frames: ['a', 'b'], value: 3_000_000}, {frames: ['a', 'c'], value: 1_500_000}]})
  const PROFILE = fakeResult('profile', {kind: 'stacks', unit: 'samples', stacks: [{frames: ['main', 'spin'], value: 97}]})
  const verdict = (text: string, r: ToolResult) => evaluate(parseExpression(text), r)

  it('has total (the time added up) and stacks (how many) to check', () => {
    expect(() => checkExpression(parseExpression('total < 5s and stacks > 0'), 'total < 5s and stacks > 0', 'stacks')).not.toThrow()
    expect(() => checkExpression(parseExpression('total < 5'), 'total < 5', 'stacks')).toThrow(/is a time: give 5 a unit/)
    expect(() => checkExpression(parseExpression('p99 < 5s'), 'p99 < 5s', 'stacks')).toThrow(/needs a histogram/)
    expect(() => checkExpression(parseExpression('total < 5s'), 'total < 5s', 'counts')).toThrow(/needs a histogram|does not apply/)
    expect(verdict('total < 5s', OFFCPU)).toMatchObject({verdict: 'pass', measured: [{value: 4.5e9, text: 'total = 4.5 s'}]})
    expect(verdict('total < 4s', OFFCPU).verdict).toBe('fail')
    expect(verdict('stacks == 2', OFFCPU)).toMatchObject({verdict: 'pass', measured: [{value: 2}]})
    // Samples are not a time: the check cannot be judged, never passed.
    expect(verdict('total < 5s', PROFILE)).toMatchObject({verdict: 'unknown', measured: [{text: 'total: these stacks count samples, not time'}]})
    expect(verdict('stacks == 1', PROFILE).verdict).toBe('pass')
  })

  it('writes them as metrics: the number of stacks, and the total as seconds or samples', async () => {
    const runbook = parseRunbook(
      ['name: s', 'steps:', '  - {tool: offcputime, duration: 1, checks: ["total < 5s"]}', '  - {tool: profile, duration: 1, checks: ["stacks > 0"]}'].join('\n'),
      'stacks.yaml',
      {flagsOf},
    )
    const signal = new AbortController().signal
    const start = fakeStart({offcputime: {exitCode: 0, stdout: JSON.stringify(OFFCPU)}, profile: {exitCode: 0, stdout: JSON.stringify(PROFILE)}})
    const report = await runRunbook(runbook, (entry) => Promise.all(entry.map((s) => runStep(s, start, signal))), signal)
    expect(report.verdict).toBe('pass')
    const text = prometheusReport(report)
    expect(text).toMatch(/^diag_stacks\{[^}]*tool="offcputime"[^}]*\} 2$/m)
    expect(text).toMatch(/^diag_stacks_seconds_total\{[^}]*tool="offcputime"[^}]*\} 4\.5$/m)
    expect(text).toMatch(/^diag_stack_samples_total\{[^}]*tool="profile"[^}]*unit="samples"\} 97$/m)
    const promtool = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8'})
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0)
    const openMetrics = openMetricsReport(report)
    expect(openMetrics).toContain('# TYPE diag_stacks_seconds counter\n# UNIT diag_stacks_seconds seconds\n')
    const dir = mkdtempSync(path.join(tmpdir(), 'diag-stacks-'))
    try {
      expectOpenMetrics(openMetrics, dir)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
