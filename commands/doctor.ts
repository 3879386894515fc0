import {DiagCommand} from '../src/command.js'
import {EXIT} from '../src/errors.js'
import {columns} from '../src/render/table.js'
import {type SetupCheck, setupChecks} from '../src/setup-check.js'

export default class Doctor extends DiagCommand {
  static override summary = "Check diag's set-up: what is missing, and the command that fixes each"
  static override description = `Checks what diag needs around the kernel: its libbpf addon and BPF objects are built, clang
(which builds them), bpftool and perf are installed, and diag has the right to mount and write
tracefs. Exits 0 when nothing is missing and 7 otherwise. What the kernel itself can do is
\`diag capabilities\`.`
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json']

  async run(): Promise<{checks: SetupCheck[]; missing: number}> {
    await this.parse(Doctor)
    const checks = await setupChecks()
    const missing = checks.filter((c) => !c.ok).length
    if (!this.jsonEnabled()) {
      this.log(columns(checks.map((c) => [c.ok ? '+' : '-', c.name, c.detail])).join('\n'))
      const fixes = checks.filter((c) => c.fix).map((c) => [`  ${c.name}:`, c.fix ?? ''])
      this.log(missing === 0 ? '\nnothing is missing' : `\n${missing} missing; to fix:\n${columns(fixes).join('\n')}`)
    }
    if (missing > 0) process.exitCode = EXIT.setupIncomplete
    return {checks, missing}
  }
}
