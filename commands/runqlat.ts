import type {RunqlatOptions} from '../src/plan/options.js'
import type {ToolResult} from '../src/result/model.js'
import {toolDescription, toolExamples} from '../src/help.js'
import {ToolCommand} from '../src/tool-command.js'

export default class Runqlat extends ToolCommand {
  static override summary = 'Run queue (scheduler) latency as a log2 histogram'
  static override usage = 'runqlat [FLAGS] [-- COMMAND [ARGS...]]'
  static override description = toolDescription('runqlat')
  static override examples = toolExamples('runqlat')

  static override flags = {
    ...ToolCommand.sessionFlags,
    backend: ToolCommand.backendFlag('runqlat'),
    unit: ToolCommand.unitFlag,
  }

  async run(): Promise<ToolResult> {
    const {argv, command} = this.splitCommand()
    const {flags} = await this.parse(Runqlat, argv)
    const options: RunqlatOptions = {unit: ToolCommand.histogramUnit(flags.unit)}
    return this.trace('runqlat', options, flags, command)
  }
}
