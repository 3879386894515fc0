import {Args} from '@oclif/core'

import {DiagCommand} from '../../src/command.js'
import {BadInputError} from '../../src/errors.js'
import {fleetFlags} from '../../src/fleet/flags.js'
import {type FleetRun, fleetRun, parseToolOutput, renderFleetRun} from '../../src/fleet/merge.js'
import {runOnFleet} from '../../src/fleet/session.js'
import {terminalStyle} from '../../src/render/style.js'
import {TOOLS} from '../../tools/index.js'

export default class FleetRunCommand extends DiagCommand {
  static override summary = 'Run a tool on every host of an inventory at once, and merge the results'
  static override description = `Everything after \`--\` is the tool's own arguments (its flags, then another \`--\` and a command
to trace). Each host runs \`diag TOOL ARGS --json\` from the bundle (copied first where it is
missing, as for \`diag fleet capabilities\`); all start together once every host is ready. The
results are merged as the tool's intervals are (counts summed, histograms added) and shown by host.`
  static override examples = [
    '<%= config.bin %> fleet run syscount --hosts inventory.ini -- -d 10',
    "<%= config.bin %> fleet run syscount --hosts hosts.txt --json -- -d 5 -- sh -c 'make -j4'",
  ]

  static override strict = false
  static override args = {tool: Args.string({description: 'The tool to run', required: true, options: TOOLS.map((t) => t.name)})}
  static override flags = fleetFlags

  async run(): Promise<FleetRun> {
    const dash = this.argv.indexOf('--')
    const own = dash < 0 ? this.argv : this.argv.slice(0, dash)
    const toolArgs = dash < 0 ? [] : this.argv.slice(dash + 1)
    const {args, flags, argv} = await this.parse(FleetRunCommand, own)
    if (argv.length > 1) throw new BadInputError(`unexpected arguments before --: ${argv.slice(1).join(' ')} (the tool's arguments go after --)`)
    if (toolArgs.includes('--json')) throw new BadInputError('--json goes before --: diag fleet run asks every host for JSON anyway')
    // The tool's own flags end at its `--`: what follows belongs to the command it traces.
    const toolFlags = toolArgs.includes('--') ? toolArgs.slice(0, toolArgs.indexOf('--')) : toolArgs
    if (toolFlags.some((a) => a === '--svg' || a.startsWith('--svg=')))
      throw new BadInputError('--svg would write a file on each host, and diag fleet run brings back only their JSON; run the tool on one host for a flame graph')
    const heatmap = toolFlags.find((a) => /^--heatmap(-terminal)?(=|$)/.test(a))
    if (heatmap)
      throw new BadInputError(`${heatmap.split('=')[0]} would draw on each host, and diag fleet run brings back only their JSON; save a host's result with --json and draw it with diag show --heatmap`)
    const {outcomes} = await runOnFleet(flags, {
      args: [args.tool, '--quiet', ...toolArgs],
      parse: parseToolOutput,
      title: args.tool,
      together: true,
      interactive: process.stderr.isTTY && !this.jsonEnabled(),
      undo: this.undo,
      signal: this.abort.signal,
    })
    this.checkAborted()
    const result = fleetRun(args.tool, toolArgs, outcomes)
    if (!this.jsonEnabled()) this.log(renderFleetRun(result, terminalStyle()))
    return result
  }
}
