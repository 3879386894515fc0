import {Args, Flags} from '@oclif/core'

import {DiagCommand} from '../../src/command.js'
import {loadRunbook} from '../../src/runbook/load.js'

export default class RunbookValidate extends DiagCommand {
  static override summary = 'Check a runbook without running it'
  static override description = `Reads a runbook file (or a built-in one by name), checks it against schema/runbook.schema.json,
then checks its tools, flags, variables and check expressions against this diag. A mistake is
refused with its line and column (exit 2); nothing touches the kernel.`
  static override examples = ['<%= config.bin %> runbook validate my-checks.yaml', '<%= config.bin %> runbook validate first-look --set duration=5']

  static override args = {runbook: Args.string({required: true, description: 'A runbook file, or the name of a built-in runbook'})}
  static override flags = {set: Flags.string({multiple: true, summary: 'Set a variable: --set pid=123'})}

  async run(): Promise<{valid: true; name: string; steps: string[][]}> {
    const {args, flags} = await this.parse(RunbookValidate)
    const runbook = loadRunbook(args.runbook, flags.set, this.config)
    const steps = runbook.entries.map((entry) => entry.map((step) => `${step.name}: diag ${step.argv.join(' ')}`))
    if (!this.jsonEnabled()) {
      this.log(`${runbook.source}: runbook ${runbook.name} is valid`)
      for (const entry of steps) for (const [i, step] of entry.entries()) this.log(`  ${entry.length > 1 ? (i === 0 ? '+ ' : '| ') : ''}${step}`)
    }
    return {valid: true, name: runbook.name, steps}
  }
}
