import {DiagCommand} from '../src/command.js'
import {versionLines} from '../src/setup-check.js'

export default class Version extends DiagCommand {
  static override summary = "diag's version, the libbpf it runs with, and whether the addon and BPF objects are built"
  static override description = '`diag --version` prints the same.'
  static override examples = ['<%= config.bin %> --version']

  async run(): Promise<{lines: string[]}> {
    await this.parse(Version)
    const lines = versionLines()
    if (!this.jsonEnabled()) this.log(lines.join('\n'))
    return {lines}
  }
}
