import {Flags} from '@oclif/core'

import type {BiolatencyOptions} from '../src/plan/options.js'
import type {ToolResult} from '../src/result/model.js'
import {ToolCommand} from '../src/tool-command.js'

export default class Biolatency extends ToolCommand {
  static override summary = 'Block I/O latency as a log2 histogram'
  static override usage = 'biolatency [FLAGS] [-- COMMAND [ARGS...]]'
  static override examples = ['<%= config.bin %> biolatency --duration 10', '<%= config.bin %> biolatency --disks --unit ms --interval 1']

  static override flags = {
    ...ToolCommand.sessionFlags,
    unit: ToolCommand.unitFlag,
    disks: Flags.boolean({char: 'D', summary: 'One histogram per disk'}),
    queued: Flags.boolean({char: 'Q', summary: 'Include time queued in the kernel (from when the request is made, not issued)'}),
  }

  async run(): Promise<ToolResult> {
    const {argv, command} = this.splitCommand()
    const {flags} = await this.parse(Biolatency, argv)
    const options: BiolatencyOptions = {unit: ToolCommand.histogramUnit(flags.unit), disks: flags.disks, queued: flags.queued}
    return this.trace('biolatency', options, flags, command)
  }
}
