import {Flags} from '@oclif/core'

import type {SyscountOptions} from '../src/plan/options.js'
import type {ToolResult} from '../src/result/model.js'
import {ToolCommand} from '../src/tool-command.js'

export default class Syscount extends ToolCommand {
  static override summary = 'Count system calls, by syscall or by process'
  static override examples = [
    '<%= config.bin %> syscount --duration 5',
    '<%= config.bin %> syscount --by process --interval 1',
    '<%= config.bin %> syscount --json -- ./my-program --its-flags',
  ]

  static override flags = {
    ...ToolCommand.sessionFlags,
    by: Flags.option({options: ['syscall', 'process'] as const, default: 'syscall', summary: 'What to count by'})(),
    pid: Flags.integer({char: 'p', min: 1, summary: 'Only this process'}),
    top: Flags.integer({char: 'T', min: 1, default: 20, summary: 'Show this many rows'}),
  }

  async run(): Promise<ToolResult> {
    const {argv, command} = this.splitCommand()
    const {flags} = await this.parse(Syscount, argv)
    const options: SyscountOptions = {by: flags.by, pid: flags.pid, top: flags.top}
    return this.trace('syscount', options, flags, command)
  }
}
