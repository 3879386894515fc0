import {Args, Flags, type Interfaces} from '@oclif/core'

import {DiagCommand} from '../../src/command.js'
import {BadInputError} from '../../src/errors.js'
import {fleetFlags} from '../../src/fleet/flags.js'
import {type FleetRun, fleetRun, parseToolOutput, renderFleetRun} from '../../src/fleet/merge.js'
import {
  FLEET_RUNBOOK_REPORTS,
  type FleetRunbook,
  fleetRunbook,
  localAnswers,
  remoteRunbook,
  renderFleetRunbook,
  runbookWork,
  withHost,
} from '../../src/fleet/runbook.js'
import {runOnFleet} from '../../src/fleet/session.js'
import {locateRunbook} from '../../src/runbook/library.js'
import {loadRunbook} from '../../src/runbook/load.js'
import {REPORT_FLAGS, checkReportFiles, sayReportFailure, writeReportFiles} from '../../src/runbook/report-files.js'
import {terminalStyle} from '../../src/render/style.js'
import {checkOutputFile} from '../../src/system/output-file.js'
import {TOOLS} from '../../tools/index.js'

const RUNBOOK_FLAGS = ['set', ...REPORT_FLAGS] as const

export default class FleetRunCommand extends DiagCommand {
  static override summary = 'Run a tool or a runbook on every host of an inventory at once, and merge the results'
  static override description = `For a tool, everything after \`--\` is its own arguments (its flags, then another \`--\` and a
command to trace). Each host runs \`diag TOOL ARGS --json\` from the bundle (copied first where
it is missing, as for \`diag fleet capabilities\`); all start together once every host is ready.
The results are merged as the tool's intervals are (counts summed, histograms added, rows put in
time order with a host column) and shown by host.
For a runbook (a local file, or a built-in one by name), each host runs it with its own diag and
sends back its report: verdicts per host, and --report, --junit, --openmetrics and --prometheus
as for \`diag runbook run\`, with the host (its inventory name) in each. A step's heat map is drawn
on the host and saved here as FILE with the host's name before its extension. Exit codes as for
\`diag runbook run\`: 8 when a check failed on any host, 9 when a host or a step gave no verdict,
10 when every host passed but a report could not be written.`
  static override examples = [
    '<%= config.bin %> fleet run syscount --hosts inventory.ini -- -d 10',
    "<%= config.bin %> fleet run syscount --hosts hosts.txt --json -- -d 5 -- sh -c 'make -j4'",
    '<%= config.bin %> fleet run first-look --hosts inventory.yaml --set duration=5 --junit fleet.xml --prometheus fleet.prom',
  ]

  static override strict = false
  static override args = {what: Args.string({description: 'The tool to run, or a runbook (a file, or the name of a built-in runbook)', required: true})}
  static override flags = {
    ...fleetFlags,
    set: Flags.string({multiple: true, summary: "A runbook's variable: --set duration=5 (runbooks only)"}),
    report: Flags.file({summary: 'Write a Markdown report here: the hosts, then each host\'s report (runbooks only)'}),
    junit: Flags.file({summary: 'Write JUnit XML here: a testsuite per host (runbooks only)'}),
    openmetrics: Flags.file({summary: 'Write metrics in OpenMetrics 1.0 text here, atomically, with a host label (runbooks only)'}),
    prometheus: Flags.file({summary: 'Write metrics in the Prometheus text format here, atomically, with a host label (runbooks only)'}),
  }

  async run(): Promise<FleetRun | FleetRunbook> {
    const dash = this.argv.indexOf('--')
    const own = dash < 0 ? this.argv : this.argv.slice(0, dash)
    const toolArgs = dash < 0 ? [] : this.argv.slice(dash + 1)
    const {args, flags, argv} = await this.parse(FleetRunCommand, own)
    if (argv.length > 1) throw new BadInputError(`unexpected arguments before --: ${argv.slice(1).join(' ')} (the tool's arguments go after --)`)
    const tool = TOOLS.find((t) => t.name === args.what)
    if (!tool) {
      if (dash >= 0) throw new BadInputError(`${args.what} is a runbook, which takes no arguments after --: set its variables with --set NAME=VALUE`)
      return this.runbook(args.what, flags)
    }
    const runbookOnly = RUNBOOK_FLAGS.find((name) => flags[name] !== undefined)
    if (runbookOnly) throw new BadInputError(`--${runbookOnly} is for runbooks; ${tool.name} is a tool`)
    if (toolArgs.includes('--json')) throw new BadInputError('--json goes before --: diag fleet run asks every host for JSON anyway')
    // The tool's own flags end at its `--`: what follows belongs to the command it traces.
    const toolFlags = toolArgs.includes('--') ? toolArgs.slice(0, toolArgs.indexOf('--')) : toolArgs
    if (toolFlags.some((a) => a === '--svg' || a.startsWith('--svg=')))
      throw new BadInputError('--svg would write a file on each host, and diag fleet run brings back only their JSON; run the tool on one host for a flame graph')
    const heatmap = toolFlags.find((a) => /^--heatmap(-terminal)?(=|$)/.test(a))
    if (heatmap)
      throw new BadInputError(`${heatmap.split('=')[0]} would draw on each host, and diag fleet run brings back only their JSON; save a host's result with --json and draw it with diag show --heatmap`)
    const {outcomes} = await runOnFleet(flags, {
      args: [tool.name, '--quiet', ...toolArgs],
      parse: parseToolOutput,
      title: tool.name,
      together: true,
      interactive: process.stderr.isTTY && !this.jsonEnabled(),
      undo: this.undo,
      signal: this.abort.signal,
    })
    this.checkAborted()
    const result = fleetRun(tool.name, toolArgs, outcomes)
    if (!this.jsonEnabled()) this.log(renderFleetRun(result, terminalStyle()))
    process.exitCode = result.exitCode
    return result
  }

  private async runbook(nameOrFile: string, flags: Interfaces.InferredFlags<typeof FleetRunCommand.flags>): Promise<FleetRunbook> {
    // Checked here, against this diag, before any host is asked; each host checks it again.
    const runbook = loadRunbook(nameOrFile, flags.set, this.config)
    const remote = remoteRunbook(locateRunbook(nameOrFile).text, runbook)
    await checkReportFiles(flags)
    const startedAt = new Date()
    const {outcomes} = await runOnFleet(flags, {
      ...runbookWork(remote, flags.set ?? []),
      title: `runbook ${runbook.name}`,
      together: true,
      interactive: process.stderr.isTTY && !this.jsonEnabled(),
      undo: this.undo,
      signal: this.abort.signal,
      // Every host's heat map has its file here, refused before any host is asked.
      prepare: async (hosts) => {
        for (const heatmap of remote.heatmaps) for (const host of hosts) await checkOutputFile(`step ${heatmap.step}: heatmap:`, withHost(heatmap.local, host.name))
      },
    })
    const answers = await localAnswers(outcomes, remote, runbook)
    const fleet = fleetRunbook(runbook, startedAt, answers, this.abort.signal.aborted)
    const reports = await writeReportFiles(flags, FLEET_RUNBOOK_REPORTS, fleet)
    if (!this.jsonEnabled()) {
      this.log(renderFleetRunbook(fleet))
      for (const file of [...reports.written, ...fleet.hosts.flatMap((h) => (h.ok ? h.heatmaps : []))]) this.log(`wrote ${file}`)
    }
    // After the result, never instead of it: the verdict's exit stands unless it was a pass.
    sayReportFailure(reports, this.jsonEnabled())
    process.exitCode = reports.exitCode
    return fleet
  }
}
