import {Flags} from '@oclif/core'

import type {FuncprofileOptions} from '../src/plan/options.js'
import type {ToolResult} from '../src/result/model.js'
import {toolDescription, toolExamples} from '../src/help.js'
import {ToolCommand} from '../src/tool-command.js'

export default class Funcprofile extends ToolCommand {
  static override summary = 'Hits and time per kernel function (the ftrace function profiler table)'
  static override usage = 'funcprofile PATTERN [FLAGS] [-- COMMAND [ARGS...]]'
  static override description = toolDescription('funcprofile')
  static override examples = toolExamples('funcprofile')

  static override args = {
    pattern: ToolCommand.patternArg,
  }

  static override flags = {
    ...ToolCommand.sessionFlags,
    backend: ToolCommand.backendFlag('funcprofile'),
    top: Flags.integer({char: 'T', min: 1, default: 30, summary: 'Show this many rows'}),
  }

  async run(): Promise<ToolResult> {
    const {argv, command} = this.splitCommand()
    const {args, flags} = await this.parse(Funcprofile, argv)
    const options: FuncprofileOptions = {pattern: args.pattern, top: flags.top}
    return this.trace('funcprofile', options, flags, command)
  }
}
