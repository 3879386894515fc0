import {Flags} from '@oclif/core'

import type {BiolatencyOptions} from '../src/plan/options.js'
import type {ToolResult} from '../src/result/model.js'
import {toolDescription, toolExamples} from '../src/help.js'
import {ToolCommand} from '../src/tool-command.js'

export default class Biolatency extends ToolCommand {
  static override summary = 'Block I/O latency as a log2 histogram'
  static override usage = 'biolatency [FLAGS] [-- COMMAND [ARGS...]]'
  static override description = toolDescription('biolatency')
  static override examples = toolExamples('biolatency')

  static override flags = {
    ...ToolCommand.sessionFlags,
    backend: ToolCommand.backendFlag('biolatency'),
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
