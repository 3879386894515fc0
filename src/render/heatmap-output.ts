import type {ToolResult} from '../result/model.js'
import {writeOutputFile} from '../system/output-file.js'
import {heatMapOf, renderHeatMapSvg, renderHeatMapText} from './heatmap.js'
import {runTitleOf} from './picture.js'
import {terminalStyle} from './style.js'

/** Where a run's latency heat map goes: --heatmap's SVG file, --heatmap-terminal's text, or both. */
export interface HeatMapOutputs {
  file?: string
  terminal?: boolean
}

/**
 * Writes a histograms result's heat map where it was asked for (a tool's run, `diag show`): the SVG
 * file whole, and the text on stdout through `log` beside the text output, or on stderr under --json
 * so that stdout stays one JSON document. `host` is null when it is not known (a saved result).
 */
export async function writeHeatMaps(
  result: ToolResult,
  host: string | null,
  outputs: HeatMapOutputs,
  print: {json: boolean; log: (text: string) => void; wrote?: (file: string) => void},
): Promise<void> {
  if (outputs.file === undefined && !outputs.terminal) return
  const map = heatMapOf(result)
  const title = runTitleOf(result, host)
  if (outputs.file !== undefined) {
    await writeOutputFile('--heatmap', outputs.file, renderHeatMapSvg(map, title))
    print.wrote?.(outputs.file)
  }
  if (!outputs.terminal) return
  if (print.json) process.stderr.write(`\n${renderHeatMapText(map, title, terminalStyle(process.stderr)).join('\n')}\n`)
  else print.log(`\n${renderHeatMapText(map, title, terminalStyle()).join('\n')}`)
}
