import {hostname} from 'node:os'

import {DiagCommand} from './command.js'
import {toolDescription} from './help.js'
import type {ToolOptions} from './plan/options.js'
import type {AnyTool} from './plan/tool.js'
import {flameGraphOf} from './render/flamegraph.js'
import {writeHeatMaps} from './render/heatmap-output.js'
import {readyLine} from './render/ready.js'
import {renderFooter, renderHeader, renderInterval, renderRow, renderRowsHeader} from './render/result.js'
import {rowLine, summaryLine} from './result/kinds/rows.js'
import {terminalStyle} from './render/style.js'
import {combineAll} from './result/kinds/index.js'
import type {ToolResult} from './result/model.js'
import {runTool} from './run.js'
import {findTool} from '../tools/index.js'
import {checkOutputFile, writeOutputFile} from './system/output-file.js'
import {HEATMAP_DEFAULT_INTERVAL, backendFlag, heatmapFlags, sessionFlags, svgFlag} from './tool-flags.js'

/**
 * What every tracing tool command shares: the session's flags (--duration, --interval, --backend
 * ...), an optional command after `--` that diag runs and traces, and text output that streams an
 * interval at a time. Each tool's command is made from its module by toolCommand().
 */
/** The session's flags as parsed. */
type SessionFlags = {duration?: number; interval?: number; backend?: string; quiet?: boolean; 'no-cache'?: boolean; svg?: string; heatmap?: string; 'heatmap-terminal'?: boolean}

export abstract class ToolCommand extends DiagCommand {
  static override strict = false

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
    flags: SessionFlags,
    command: string[] | undefined,
  ): Promise<ToolResult> {
    const text = !this.jsonEnabled()
    const {quiet, 'no-cache': noCache, svg, heatmap, 'heatmap-terminal': heatmapTerminal, ...session} = flags
    // Files the run writes besides its output: a bad path is refused before the kernel is touched.
    if (svg !== undefined) await checkOutputFile('--svg', svg)
    if (heatmap !== undefined) await checkOutputFile('--heatmap', heatmap)
    // A heat map needs columns: without -i the run is collected a second at a time, and its text
    // is still the whole run at once (printed at the end), as the user asked for no intervals.
    const wholeRunText = (heatmap !== undefined || heatmapTerminal === true) && session.interval === undefined
    if (wholeRunText) session.interval = HEATMAP_DEFAULT_INTERVAL
    const rowColumns = findTool(tool)?.output === 'rows' ? findTool(tool)?.columns : undefined
    if (rowColumns && !text) this.ndjson = {}
    const result = await runTool(tool, options, {...session, command, json: !text, refreshProbes: noCache}, {
      undo: this.undo,
      signal: this.abort.signal,
      onStart: (r) => {
        // The ready line: scripts, runbooks and the tests wait for it before starting a workload.
        if (!quiet) process.stderr.write(`${readyLine(r, flags.duration)}\n`)
        if (text) this.log(renderHeader(r).join('\n'))
        if (text && rowColumns) this.log(renderRowsHeader(rowColumns, terminalStyle()))
      },
      // Each batch of rows as it comes, in one write: text lines in the header's columns, or NDJSON lines.
      onRows: (_, rows) => {
        if (!rowColumns || rows.length === 0) return
        if (text) this.log(rows.map((row) => renderRow(rowColumns, row)).join('\n'))
        else process.stdout.write(rows.map((row) => `${JSON.stringify(rowLine(row))}\n`).join(''))
      },
      onInterval: (r, i) => text && !rowColumns && !wholeRunText && this.log(renderInterval(r, i, terminalStyle()).join('\n')),
    })
    if (text && wholeRunText) {
      const last = result.intervals.at(-1)
      const data = combineAll(result.intervals.map((i) => i.data))
      if (last && data) this.log(renderInterval({intervals: [{time: last.time, seconds: result.seconds, data}]}, 0, terminalStyle()).join('\n'))
    }
    await writeHeatMaps(result, hostname(), {file: heatmap, terminal: heatmapTerminal}, {
      json: !text,
      log: (line) => this.log(line),
      wrote: quiet ? undefined : (file) => process.stderr.write(`wrote the heat map to ${file}\n`),
    })
    if (svg !== undefined) {
      await writeOutputFile('--svg', svg, flameGraphOf(result, hostname()))
      if (!quiet) process.stderr.write(`wrote the flame graph to ${svg}\n`)
    }
    if (text) for (const line of renderFooter(result)) this.log(line)
    if (this.ndjson) {
      this.ndjson.summary = result
      process.stdout.write(`${JSON.stringify(summaryLine(result))}\n`)
    }
    return result
  }
}

/** The oclif command of a tool: its flags after the session's, its help, and run() calling the session. */
export function toolCommand(tool: AnyTool): typeof ToolCommand {
  class Tool extends ToolCommand {
    static override summary = tool.command.summary
    static override usage = tool.command.usage
    static override description = toolDescription(tool)
    static override examples = tool.help.examples
    static override args = tool.command.args ?? {}
    static override flags = {...sessionFlags, backend: backendFlag(tool), ...(tool.output === 'stacks' ? {svg: svgFlag} : {}), ...(tool.output === 'histograms' ? heatmapFlags : {}), ...tool.command.flags}

    async run(): Promise<ToolResult> {
      const {argv, command} = this.splitCommand()
      const {args, flags} = await this.parse(Tool, argv)
      return this.trace(tool.name, await tool.options({args, flags, command}), flags as SessionFlags, command)
    }
  }
  return Tool
}
