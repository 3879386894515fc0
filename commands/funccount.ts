import {Flags} from '@oclif/core'

import type {FunccountOptions} from '../src/plan/options.js'
import type {ToolResult} from '../src/result/model.js'
import {toolDescription, toolExamples} from '../src/help.js'
import {ToolCommand} from '../src/tool-command.js'

export default class Funccount extends ToolCommand {
  static override summary = 'Count calls of kernel functions matching a wildcard pattern'
  static override usage = 'funccount PATTERN [FLAGS] [-- COMMAND [ARGS...]]'
  static override description = toolDescription('funccount')
  static override examples = toolExamples('funccount')

  static override args = {
    pattern: ToolCommand.patternArg,
  }

  static override flags = {
    ...ToolCommand.sessionFlags,
    backend: ToolCommand.backendFlag('funccount'),
    pid: Flags.integer({char: 'p', min: 1, summary: 'Only this process'}),
    top: Flags.integer({char: 'T', min: 1, default: 50, summary: 'Show this many rows'}),
  }

  async run(): Promise<ToolResult> {
    const {argv, command} = this.splitCommand()
    const {args, flags} = await this.parse(Funccount, argv)
    const options: FunccountOptions = {pattern: args.pattern, pid: flags.pid, top: flags.top}
    return this.trace('funccount', options, flags, command)
  }
}
