import {Args, Flags} from '@oclif/core'

import {DiagCommand} from '../../src/command.js'
import {loadRunbook} from '../../src/runbook/load.js'
import {startStepProcess} from '../../src/runbook/process.js'
import {listrProgress, plainProgress} from '../../src/runbook/progress.js'
import {RUNBOOK_REPORTS} from '../../src/runbook/report.js'
import {checkReportFiles, sayReportFailure, writeReportFiles} from '../../src/runbook/report-files.js'
import {type RunbookReport, runRunbook} from '../../src/runbook/run.js'
import {checkOutputFile} from '../../src/system/output-file.js'

export default class RunbookRun extends DiagCommand {
  static override summary = 'Run a runbook: diag tools with checks, a verdict and reports'
  static override description = `Runs each step of a runbook (a YAML file, or a built-in one by name: diag runbook list) as the
diag tool it names, in order, the steps of a parallel: group at once, and judges its checks.
Progress shows on a terminal; --ci (or output that is not a terminal) prints one line per event.
Exit 0: every check passed; 8: a check of severity fail failed; 9: none failed, but a step could
not run here or a check could not be judged (it is reported as skipped, never as passed);
130: interrupted (the reports still cover what finished); 2: the runbook is refused; 10: every
check passed, but a report could not be written (a failed or incomplete run keeps its 8 or 9).`
  static override examples = [
    '<%= config.bin %> runbook run first-look',
    '<%= config.bin %> runbook run disk-latency --set duration=30 --report disk.md',
    '<%= config.bin %> runbook run first-look --ci --junit out.xml --openmetrics out.om',
    '<%= config.bin %> runbook run first-look --prometheus /var/lib/prometheus/node-exporter/diag.prom',
  ]

  static override args = {runbook: Args.string({required: true, description: 'A runbook file, or the name of a built-in runbook'})}
  static override flags = {
    set: Flags.string({multiple: true, summary: 'Set a variable: --set pid=123 --set duration=5'}),
    ci: Flags.boolean({summary: 'Plain progress, one line per event, even on a terminal'}),
    report: Flags.file({summary: 'Write a Markdown report here'}),
    junit: Flags.file({summary: 'Write a JUnit XML report here (one testcase per check)'}),
    openmetrics: Flags.file({summary: 'Write metrics in OpenMetrics 1.0 text here, atomically'}),
    prometheus: Flags.file({
      summary: "Write metrics in the Prometheus text format here, atomically (for node_exporter's textfile collector and promtool check metrics)",
    }),
  }

  async run(): Promise<RunbookReport> {
    const {args, flags} = await this.parse(RunbookRun)
    const runbook = loadRunbook(args.runbook, flags.set, this.config)
    await checkReportFiles(flags)
    // A step's heat map path is refused before any step runs, not when that step starts.
    for (const step of runbook.entries.flat()) if (step.heatmap !== undefined) await checkOutputFile(`step ${step.name}: heatmap:`, step.heatmap)
    const signal = this.abort.signal
    // Progress goes to stderr when stdout carries the JSON report.
    const plain = flags.ci || !process.stderr.isTTY || this.jsonEnabled()
    const write = (line: string) => process.stderr.write(`${line}\n`)
    const runEntry = plain ? plainProgress(startStepProcess, signal, write) : listrProgress(startStepProcess, signal)
    const report = await runRunbook(runbook, runEntry, signal)
    const reports = await writeReportFiles(flags, RUNBOOK_REPORTS, report)
    if (!this.jsonEnabled()) {
      const checks = report.steps.flatMap((s) => s.checks)
      const count = (status: string) => checks.filter((c) => c.status === status).length
      this.log(
        `runbook ${runbook.name}: ${report.verdict.toUpperCase()} (${count('pass')} passed, ${count('fail')} failed, ` +
          `${count('unknown') + count('skipped')} not judged; ${report.steps.filter((s) => s.status !== 'ran').length} steps did not run)`,
      )
      for (const file of reports.written) this.log(`wrote ${file}`)
    }
    // After the result, never instead of it: the verdict's exit stands unless it was a pass.
    sayReportFailure(reports, this.jsonEnabled())
    process.exitCode = reports.exitCode
    return report
  }
}
