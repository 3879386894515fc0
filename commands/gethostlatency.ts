import {Flags} from '@oclif/core'

import type {ToolResult} from '../src/result/model.js'
import {toolDescription, toolExamples} from '../src/help.js'
import {ToolCommand} from '../src/tool-command.js'
import {NAME, gethostlatencyOptions} from '../tools/gethostlatency/tool.js'

export default class Gethostlatency extends ToolCommand {
  static override summary = 'DNS lookup latency: a row per getaddrinfo/gethostbyname call as it returns'
  static override usage = 'gethostlatency [FLAGS] [-- COMMAND [ARGS...]]'
  static override description = toolDescription(NAME)
  static override examples = toolExamples(NAME)

  static override flags = {
    ...ToolCommand.sessionFlags,
    backend: ToolCommand.backendFlag(NAME),
    pid: Flags.integer({char: 'p', min: 1, summary: 'Only this process'}),
    libc: Flags.string({char: 'l', summary: 'Trace this libc (a path) instead of the one the process or the system uses'}),
  }

  async run(): Promise<ToolResult> {
    const {argv, command} = this.splitCommand()
    const {flags} = await this.parse(Gethostlatency, argv)
    return this.trace(NAME, await gethostlatencyOptions(flags, command), flags, command)
  }
}
