import {DiagCommand} from '../../src/command.js'
import {builtinRunbooks} from '../../src/runbook/library.js'

export default class RunbookList extends DiagCommand {
  static override summary = 'List the runbooks that come with diag'
  static override examples = ['<%= config.bin %> runbook list', '<%= config.bin %> runbook run first-look']

  async run(): Promise<{name: string; file: string; description: string}[]> {
    const runbooks = builtinRunbooks()
    if (!this.jsonEnabled()) for (const r of runbooks) this.log(`${r.name.padEnd(16)} ${r.description}`)
    return runbooks
  }
}
