import {Args, Flags} from '@oclif/core'

import {DiagCommand} from './command.js'
import {readyLine} from './render/ready.js'
import {backendChoices} from './help.js'
import type {ToolOptions} from './plan/options.js'
import {renderFooter, renderHeader, renderInterval} from './render/result.js'
import {renderRow, renderRowsHeader} from './render/rows.js'
import {terminalStyle} from './render/style.js'
import type {ToolResult} from './result/model.js'
import {findTool} from './plan/tools.js'
import {checkFunctionPattern} from './tracefs/functions.js'
import {runTool} from './run.js'

const seconds = Flags.custom<number>({
  async parse(input) {
    const value = Number(input)
    if (!Number.isFinite(value) || value <= 0) throw new Error(`expects a number of seconds above 0, not "${input}"`)
    return value
  },
})

/**
 * What every tracing tool command shares: --duration, --interval, --backend, and an optional
 * command after `--` that diag runs and traces. Text output streams an interval at a time.
 */
export abstract class ToolCommand extends DiagCommand {
  static override strict = false

  static sessionFlags = {
    duration: seconds({char: 'd', summary: 'Seconds to trace (default: until Ctrl-C, or until the command exits)'}),
    interval: seconds({char: 'i', summary: 'Print a result every this many seconds'}),
    backend: Flags.string({char: 'b', summary: 'Force a backend (bpf, ftrace, perf) or a candidate id, as `diag capabilities` lists them'}),
    quiet: Flags.boolean({char: 'q', summary: 'Do not print the "Tracing ..." line on stderr once tracing is attached'}),
    'no-cache': Flags.boolean({summary: "Probe the kernel anew instead of reusing this boot's cached probe answers"}),
  }

  /** --backend with the tool's own choices, so that completion offers them and oclif checks them. */
  static backendFlag(tool: string) {
    const {char} = ToolCommand.sessionFlags.backend
    const summary = 'Force a backend (bpf, ftrace, perf) or a candidate id, as listed under Backends below'
    return Flags.string({char, summary, options: backendChoices(tool), helpValue: '<backend|id>'})
  }

  /** biolatency's and runqlat's histogram unit; histogramUnit() turns it into the result's. */
  static unitFlag = Flags.option({options: ['us', 'ms'] as const, default: 'us', summary: 'Histogram unit'})()

  static histogramUnit(flag: 'us' | 'ms'): 'usecs' | 'msecs' {
    return flag === 'ms' ? 'msecs' : 'usecs'
  }

  /** The kernel function glob of funccount and funcprofile, checked when parsed. */
  static patternArg = Args.string({
    required: true,
    description: "Kernel function names, with * and ? wildcards: 'vfs_r*'",
    async parse(input) {
      checkFunctionPattern(input)
      return input
    },
  })

  /**
   * A rows tool under --json writes NDJSON: a line per row as it comes, then the summary line;
   * anything oclif would print after that (the returned result again, an error) is one line too.
   */
  private ndjson: {summary?: unknown} | undefined

  override logJson(json: unknown): void {
    if (!this.ndjson) return super.logJson(json)
    if (json !== this.ndjson.summary) process.stdout.write(`${JSON.stringify(json)}\n`)
  }

  /** The arguments before `--` (for oclif) and the command after it. */
  protected splitCommand(): {argv: string[]; command: string[] | undefined} {
    const dash = this.argv.indexOf('--')
    return dash < 0 ? {argv: this.argv, command: undefined} : {argv: this.argv.slice(0, dash), command: this.argv.slice(dash + 1)}
  }

  protected async trace<Options extends ToolOptions>(
    tool: string,
    options: Options,
    flags: {duration?: number; interval?: number; backend?: string; quiet?: boolean; 'no-cache'?: boolean},
    command: string[] | undefined,
  ): Promise<ToolResult> {
    const text = !this.jsonEnabled()
    const {quiet, 'no-cache': noCache, ...session} = flags
    const spec = findTool(tool)
    const rowColumns = spec?.output === 'rows' ? spec.columns : undefined
    if (rowColumns && !text) this.ndjson = {}
    const result = await runTool(tool, options, {...session, command, json: !text, refreshProbes: noCache}, {
      undo: this.undo,
      signal: this.abort.signal,
      onStart: (r) => {
        // The ready line: scripts, runbooks and the tests wait for it before starting a workload.
        if (!quiet) process.stderr.write(`${readyLine(r, flags.duration)}\n`)
        if (text) this.log(renderHeader(r).join('\n'))
        if (text && rowColumns) this.log(renderRowsHeader(rowColumns))
      },
      // Each row as it comes: a text line in the header's columns, or an NDJSON line.
      onRows: (_, rows) => {
        if (!rowColumns) return
        if (text) for (const row of rows) this.log(renderRow(rowColumns, row))
        else process.stdout.write(rows.map((row) => `${JSON.stringify({type: 'row', ...row})}\n`).join(''))
      },
      onInterval: (r, i) => text && !rowColumns && this.log(renderInterval(r, i, terminalStyle()).join('\n')),
    })
    if (text) for (const line of renderFooter(result)) this.log(line)
    if (this.ndjson) {
      this.ndjson.summary = result
      process.stdout.write(`${JSON.stringify({type: 'summary', ...result})}\n`)
    }
    return result
  }
}
