import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {EXIT, RUNBOOK_EXIT} from '../../src/errors.js'
import type {CapabilitiesReport} from '../../src/plan/report.js'
import type {RunbookReport} from '../../src/runbook/run.js'
import {diag, diagJson} from '../helpers/cli.js'
import {expectOpenMetrics} from '../helpers/openmetrics.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {freePort} from '../helpers/sshd.js'

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const JUNIT_XSD = fileURLToPath(new URL('../fixtures/junit.xsd', import.meta.url))

/** A sample line with its labels in name order, as node_exporter writes them. */
function normalizeLabels(line: string): string {
  const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line)
  if (!m) return line
  const labels = m[2].match(/\w+="(?:[^"\\]|\\.)*"/g) ?? []
  return `${m[1]}{${[...labels].sort().join(',')}} ${m[3]}`
}

/** Runs node_exporter with only its textfile collector over dir, on 127.0.0.1, and scrapes it once. */
async function scrapeTextfiles(dir: string): Promise<string> {
  const port = await freePort()
  const exporter = execa(
    'prometheus-node-exporter',
    [`--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${dir}`],
    {reject: false},
  )
  try {
    for (let tries = 0; ; tries++) {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`).catch((error: Error) => error)
      if (!(response instanceof Error)) return await response.text()
      if (tries > 100 || exporter.exitCode !== null) throw new Error(`node_exporter (prometheus-node-exporter, installed by scripts/setup.sh) did not answer: ${response.message}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    exporter.kill('SIGTERM')
    await exporter
  }
}

describe.skipIf(!isRoot)('runbooks on this host (needs root)', () => {
  let before: KernelState
  let usable: Map<string, string[]>
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-runbook-'))
  const file = (name: string, text: string) => {
    const full = path.join(dir, name)
    writeFileSync(full, text)
    return full
  }

  beforeAll(async () => {
    before = await kernelState()
    const capabilities = await diagJson<CapabilitiesReport>(['capabilities'])
    usable = new Map(capabilities.json.tools.map((t) => [t.tool, t.candidates.filter((c) => c.usable).map((c) => c.id)]))
  })

  afterAll(async () => {
    rmSync(dir, {recursive: true, force: true})
    expect(await kernelState()).toEqual(before)
  })

  it('first-look runs every step this kernel allows, skips the others with their reasons, and writes valid reports', async () => {
    const junit = path.join(dir, 'first-look.xml')
    const textfiles = mkdtempSync(path.join(dir, 'textfile-'))
    const metrics = path.join(textfiles, 'first-look.prom')
    const openMetrics = path.join(dir, 'first-look.om')
    const report = path.join(dir, 'first-look.md')
    const run = await diagJson<RunbookReport>([
      'runbook', 'run', 'first-look', '--set', 'duration=1', '--ci', '--junit', junit, '--openmetrics', openMetrics, '--prometheus', metrics, '--report', report,
    ])
    const steps = run.json.steps
    expect(steps.length).toBeGreaterThanOrEqual(4)
    // A step runs on a candidate the report calls usable (the first, unless its flags or pattern
    // pass that one over), or is skipped with the tool's reasons when there is none.
    for (const step of steps) {
      const candidates = usable.get(step.tool) ?? []
      if (candidates.length > 0) {
        expect(step.status, `${step.name}: ${step.reason}`).toBe('ran')
        expect(candidates).toContain(step.backend?.candidate)
      } else expect(step).toMatchObject({status: 'skipped', reason: expect.stringContaining('cannot run on this host')})
      for (const check of step.checks) expect(check.status).not.toBe(candidates.length > 0 ? 'skipped' : 'pass')
    }
    const skipped = steps.some((s) => s.status !== 'ran')
    const failed = steps.some((s) => s.checks.some((c) => c.severity === 'fail' && c.status === 'fail'))
    expect(run.exitCode, run.stderr).toBe(failed ? RUNBOOK_EXIT.checkFailed : skipped ? RUNBOOK_EXIT.incomplete : 0)
    // Plain progress, one line per event, on stderr while stdout carries the JSON.
    expect(run.stderr).toMatch(/^\[syscalls\] tracing with \S+ \(\w+\)$/m)
    expect(run.stderr).toMatch(/^\[syscalls\] check lost == 0: \w+/m)

    const xmllint = spawnSync('xmllint', ['--noout', '--schema', JUNIT_XSD, junit], {encoding: 'utf8'})
    expect(xmllint.status, xmllint.stderr).toBe(0)
    const promtool = spawnSync('promtool', ['check', 'metrics'], {input: readFileSync(metrics), encoding: 'utf8'})
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0)
    expect(readFileSync(metrics, 'utf8')).toMatch(/^diag_events_total\{host="[^"]+",runbook="first-look",step="syscalls",tool="syscount",backend="[^"]+",key="syscall",value="[a-z_0-9]+"\} \d+$/m)
    expectOpenMetrics(readFileSync(openMetrics, 'utf8'), dir)
    expect(readFileSync(openMetrics, 'utf8')).toMatch(/^diag_events_total\{host="[^"]+",runbook="first-look",step="syscalls",tool="syscount",backend="[^"]+",key="syscall",value="[a-z_0-9]+"\} \d+$/m)

    // node_exporter's textfile collector reads the Prometheus text file as it is, types and all.
    const scraped = await scrapeTextfiles(textfiles)
    expect(scraped).toMatch(/^node_textfile_scrape_error 0$/m)
    expect(scraped).toMatch(/^# TYPE diag_events_total counter$/m)
    expect(scraped).toMatch(/^# TYPE diag_runbook_check gauge$/m)
    const wrote = readFileSync(metrics, 'utf8').split('\n').filter((l) => /^diag_events_total\{/.test(l))
    expect(wrote.length).toBeGreaterThan(0)
    for (const line of wrote) expect(scraped.split('\n')).toContain(normalizeLabels(line))
    expect(readFileSync(report, 'utf8')).toMatch(/^# Runbook first-look: (PASS|FAIL|INCOMPLETE)$/m)
  })

  it('refuses a metrics file it could not write before any step runs (exit 2)', async () => {
    const before = await kernelState()
    for (const flag of ['--openmetrics', '--prometheus']) {
      const run = await diag(['runbook', 'run', 'first-look', '--ci', flag, path.join(dir, 'no-such-dir', 'out.prom')])
      expect(run.exitCode, run.stderr).toBe(2)
      expect(run.stderr).toContain(`${flag} `)
      expect(run.stderr).not.toMatch(/tracing with/)
    }
    expect(await kernelState()).toEqual(before)
  })

  it('exits 8 when a check fails, and the report shows what was measured', async () => {
    // Four busy loops on two CPUs: tasks wait for a CPU for milliseconds.
    const busy = 'for i in 1 2 3 4; do timeout 1 sh -c "while :; do :; done" & done; wait'
    const runbook = file('busy.yaml', ['name: busy', 'steps:', '  - tool: runqlat', `    command: [sh, -c, '${busy}']`, '    checks: ["p99 < 1us", "count > 0"]', ''].join('\n'))
    const report = path.join(dir, 'busy.md')
    const run = await diag(['runbook', 'run', runbook, '--ci', '--report', report])
    expect(run.exitCode, run.stdout + run.stderr).toBe(RUNBOOK_EXIT.checkFailed)
    expect(run.stderr).toMatch(/^\[runqlat\] check p99 < 1us: fail \(p99 < \d+(\.\d+)? (us|ms) \(log2 bucket/m)
    expect(run.stderr).toMatch(/^\[runqlat\] check count > 0: pass \(count = \d+\)/m)
    expect(readFileSync(report, 'utf8')).toMatch(/^\| runqlat \| `p99 < 1us` \| fail \| FAIL \| p99 < \d/m)
    expect(run.stdout).toMatch(/^runbook busy: FAIL \(1 passed, 1 failed/m)
  })

  // The report's directory is there at the check before the run, and the traced command removes it.
  // That write failure threw exit 2 ("refused before touching the kernel"): the verdict's exit was lost.
  it('a report it could not write after the run: the result printed, a failed check keeps exit 8, a pass exits 10', async () => {
    const runOnce = async (name: string, check: string, json: boolean) => {
      const gone = path.join(dir, `${name}-gone`)
      mkdirSync(gone)
      const runbook = file(`${name}.yaml`, ['name: ' + name, 'steps:', '  - tool: syscount', `    command: [rm, -r, '${gone}']`, `    checks: ["${check}"]`, ''].join('\n'))
      const junit = path.join(dir, `${name}.xml`)
      const run = await diag(['runbook', 'run', runbook, '--ci', '--report', path.join(gone, 'out.md'), '--junit', junit, ...(json ? ['--json'] : [])])
      expect(existsSync(gone)).toBe(false)
      expect(readFileSync(junit, 'utf8')).toContain('<testsuites')
      const said = new RegExp(`^--report ${gone}/out\\.md: could not write it: ENOENT.*; written: ${junit}$`)
      // With --json, as JSON (every diag error's shape there), else a line of text.
      const line = run.stderr.split('\n').find((l) => (json ? l.startsWith('{"error"') : l.startsWith('diag: --report')))
      const error = json ? JSON.parse(line ?? '{}').error : {message: line?.replace(/^diag: /, '')}
      expect(error?.message, run.stderr).toMatch(said)
      if (json) expect(error).toMatchObject({kind: 'reportNotWritten', exitCode: EXIT.reportNotWritten})
      return run
    }
    const failed = await runOnce('failing', 'count < 0', false)
    expect(failed.exitCode, failed.stderr).toBe(RUNBOOK_EXIT.checkFailed)
    expect(failed.stdout).toMatch(/^runbook failing: FAIL \(0 passed, 1 failed/m)
    const passed = await runOnce('passing', 'count > 0', true)
    expect(passed.exitCode, passed.stderr).toBe(EXIT.reportNotWritten)
    expect(JSON.parse(passed.stdout)).toMatchObject({verdict: 'pass', exitCode: 0})
  })

  it('refuses a runbook with a mistake before anything runs, naming the line and column', async () => {
    const runbook = file('typo.yaml', 'name: typo\nsteps:\n  - tool: syscount\n    duration: 1\n  - tool: runqlat\n    duration: 1\n    flags: {unit: hours}\n')
    const state = await kernelState()
    const run = await diag(['runbook', 'run', runbook])
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain(`diag: ${runbook}:7:19: --unit is one of us, ms, not hours`)
    expect(run.stderr).not.toMatch(/^\s+at /m)
    expect(await kernelState()).toEqual(state)
  })

  it('shows listr2 progress in a terminal: the backend each step chose and a tick per check', async () => {
    const runbook = file('tty.yaml', 'name: tty\nsteps:\n  - tool: syscount\n    duration: 1\n    checks: ["count > 0"]\n')
    // script(1) gives the runbook a pseudo-terminal, as an operator's shell would.
    // A new pseudo-terminal has no size until someone sets one, as a terminal emulator does.
    const command = `stty cols 120 rows 40; ${process.execPath} ${BIN} runbook run ${runbook}`
    const run = await execa('script', ['-qfec', command, '/dev/null'], {reject: false, env: {TERM: 'xterm-256color'}})
    const screen = String(run.stdout).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    expect(run.exitCode, screen).toBe(0)
    expect(screen).toMatch(/✔ syscount: syscount on \S+ \(\w+\)/)
    expect(screen).toMatch(/✔ count > 0: pass \(count = \d+\)/)
    expect(screen).not.toMatch(/^\[syscount\]/m)
  })

  it('stops every running step on Ctrl-C, and still writes the report of what finished', async () => {
    const runbook = file('long.yaml', 'name: long\nsteps:\n  - parallel:\n      - {tool: syscount, duration: 60}\n      - {tool: runqlat, duration: 60}\n  - {tool: syscount, name: never, duration: 60}\n')
    const report = path.join(dir, 'long.md')
    const runner = execa(process.execPath, [BIN, 'runbook', 'run', runbook, '--ci', '--report', report, '--json'], {reject: false})
    let stderr = ''
    await new Promise<void>((resolve, reject) => {
      runner.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk
        if ((stderr.match(/tracing with/g) ?? []).length === 2) resolve()
      })
      void runner.then(() => reject(new Error(`the runbook ended first: ${stderr}`)))
    })
    const sent = Date.now()
    runner.kill('SIGINT')
    const run = await runner
    expect(Date.now() - sent).toBeLessThan(10_000)
    expect(run.exitCode, stderr).toBe(130)
    const json = JSON.parse(String(run.stdout)) as RunbookReport
    expect(json.interrupted).toBe(true)
    expect(json.steps.map((s) => [s.name, s.status])).toEqual([
      ['syscount', 'interrupted'],
      ['runqlat', 'interrupted'],
      ['never', 'interrupted'],
    ])
    expect(json.steps[0].result?.intervals.length).toBe(1)
    expect(json.steps[2].result).toBeNull()
    expect(readFileSync(report, 'utf8')).toContain('interrupted')
  })
})
