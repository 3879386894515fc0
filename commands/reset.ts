import {Flags} from '@oclif/core'

import {DiagCommand} from '../src/command.js'
import {PermissionError} from '../src/errors.js'
import {hasSysAdmin, probeHost} from '../src/probe/probe.js'
import {type ResetReport, resetDead} from '../src/reset.js'
import {columns} from '../src/render/table.js'
import {NodeFiles} from '../src/system/files.js'

export default class Reset extends DiagCommand {
  static override summary = 'Remove what diag processes that died (SIGKILL, power loss) left in the kernel'
  static override description = `Only what carries the pid of a diag process that no longer runs: the processes it ran (perf,
recognised by the DIAG_OWNER mark in their environment), its ftrace instances (and the triggers in
them), kprobe, uprobe and synthetic events, and private tracefs mounts. Nothing that another tool,
or a running diag, made is touched.`
  static override examples = ['<%= config.bin %> reset --dry-run', '<%= config.bin %> reset']

  static override flags = {
    'dry-run': Flags.boolean({char: 'n', summary: 'List what would be removed, and remove nothing'}),
  }

  async run(): Promise<ResetReport> {
    const {flags} = await this.parse(Reset)
    // Without root, diag could not see what it should remove (tracefs, other users' processes),
    // and "nothing left" would not be known.
    if (!(await hasSysAdmin(new NodeFiles('/'))))
      throw new PermissionError(`diag reset needs root (uid ${process.getuid?.()} may not read tracefs or end another user's processes). Run it as root.`)
    const probe = await probeHost({only: ['tracefs'], signal: this.abort.signal}, this.undo)
    const report = await resetDead(new NodeFiles('/'), probe.tracefs, flags['dry-run'])
    if (!this.jsonEnabled()) {
      if (report.actions.length === 0) this.log('Nothing left behind by a dead diag process.')
      else this.log(columns([['WHAT', 'NAME', 'PID', 'OUTCOME'], ...report.actions.map((a) => [a.kind, a.name, String(a.pid), a.outcome])]).join('\n'))
    }
    if (report.actions.some((a) => a.outcome.startsWith('failed'))) process.exitCode = 6
    return report
  }
}
