import {Flags} from '@oclif/core'

import {BadInputError} from '../src/errors.js'
import type {SyscountOptions} from '../src/plan/options.js'
import {isSyscallName} from '../src/result/normalize.js'
import type {ToolResult} from '../src/result/model.js'
import {toolDescription, toolExamples} from '../src/help.js'
import {ToolCommand} from '../src/tool-command.js'

export default class Syscount extends ToolCommand {
  static override summary = 'Count system calls, by syscall, process or thread'
  static override usage = 'syscount [FLAGS] [-- COMMAND [ARGS...]]'
  static override description = toolDescription('syscount')
  static override examples = toolExamples('syscount')

  static override flags = {
    ...ToolCommand.sessionFlags,
    backend: ToolCommand.backendFlag('syscount'),
    by: Flags.option({
      options: ['syscall', 'process', 'thread'] as const,
      default: 'syscall',
      summary: 'What to count by: syscall, process (all its threads together) or thread',
    })(),
    pid: Flags.integer({char: 'p', min: 1, summary: 'Only this process'}),
    top: Flags.integer({char: 'T', min: 1, default: 20, summary: 'Show this many rows'}),
    syscall: Flags.string({char: 's', multiple: true, summary: 'Only this syscall (by name; repeat for more)'}),
  }

  async run(): Promise<ToolResult> {
    const {argv, command} = this.splitCommand()
    const {flags} = await this.parse(Syscount, argv)
    const unknown = (flags.syscall ?? []).filter((name) => !isSyscallName(name))
    if (unknown.length > 0) throw new BadInputError(`unknown syscall: ${unknown.join(', ')}`)
    if (flags.syscall && flags.by !== 'syscall') throw new BadInputError(`--syscall counts by syscall; it does not go with --by ${flags.by}`)
    const options: SyscountOptions = {by: flags.by, pid: flags.pid, top: flags.top, syscalls: flags.syscall && new Set(flags.syscall)}
    return this.trace('syscount', options, flags, command)
  }
}
