import {readFileSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {DiagCommand} from '../src/command.js'
import {BadInputError} from '../src/errors.js'
import {writeHeatMaps} from '../src/render/heatmap-output.js'
import {renderFooter, renderHeader, renderInterval} from '../src/render/result.js'
import {terminalStyle} from '../src/render/style.js'
import type {ToolResult} from '../src/result/model.js'
import {parseSavedResult} from '../src/result/saved.js'
import {checkOutputFile} from '../src/system/output-file.js'

export default class Show extends DiagCommand {
  static override summary = 'Print a result saved with --json as text, as the tool printed it'
  static override description = `Reads what a tool printed with --json (a file, or - for standard input) and prints it as the tool
would have: the header naming the backend, then each interval's table or histogram. On a terminal
the histograms use its width and colour; piped, or with NO_COLOR set, the text is plain.`
  static override examples = [
    {description: 'Save a result, then read it later:', command: '<%= config.bin %> runqlat -d 10 --json > runqlat.json && <%= config.bin %> show runqlat.json'},
    {description: 'From a pipe:', command: "ssh db1 diag biolatency -d 5 --json | <%= config.bin %> show -"},
    {description: 'A latency heat map of a saved histograms result, one column per interval:', command: '<%= config.bin %> biolatency -i 1 -d 60 --json > bio.json && <%= config.bin %> show bio.json --heatmap bio.svg'},
  ]

  static override flags = {
    heatmap: Flags.string({summary: 'Write the result (log2 histograms) as a latency heat map to this SVG file, one column per interval', helpValue: 'FILE'}),
    'heatmap-terminal': Flags.boolean({summary: 'Print the heat map after the text: coloured blocks on a terminal, characters with NO_COLOR or piped'}),
  }

  static override args = {
    file: Args.string({required: true, description: 'A result saved with --json, or - for standard input'}),
  }

  async run(): Promise<ToolResult> {
    const {args, flags} = await this.parse(Show)
    if (flags.heatmap !== undefined) await checkOutputFile('--heatmap', flags.heatmap)
    let result: ToolResult
    try {
      result = parseSavedResult(readFileSync(args.file === '-' ? 0 : args.file, 'utf8'))
    } catch (error) {
      throw new BadInputError(`${args.file}: not a saved result: ${(error as Error).message}`)
    }
    if (result?.schema !== 'diag/result' || !Array.isArray(result.intervals))
      throw new BadInputError(`${args.file}: not a diag result (no "schema": "diag/result"); save one with a tool's --json`)
    if (!this.jsonEnabled()) {
      const style = terminalStyle()
      this.log(renderHeader(result).join('\n'))
      for (const index of result.intervals.keys()) this.log(renderInterval(result, index, style).join('\n'))
      for (const line of renderFooter(result)) this.log(line)
    }
    if (flags.heatmap !== undefined || flags['heatmap-terminal']) {
      if (result.intervals.some((i) => i.data?.kind !== 'histograms'))
        throw new BadInputError(`${args.file}: ${result.tool} gives ${result.intervals.find((i) => i.data?.kind !== 'histograms')?.data?.kind} data, not log2 histograms: no heat map`)
      // A saved result does not record its host: the title says so.
      await writeHeatMaps(result, null, {file: flags.heatmap, terminal: flags['heatmap-terminal']}, {json: this.jsonEnabled(), log: (line) => this.log(line)})
    }
    return result
  }
}
