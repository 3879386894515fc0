import type {Row, ToolResult} from './model.js'

/**
 * What a tool printed with --json, read back: one JSON document, or a rows tool's NDJSON (a line
 * per row, then the summary line), whose rows go back into the summary's interval (its last,
 * where there were several). Throws what JSON.parse throws when it is neither.
 */
export function parseSavedResult(text: string): ToolResult {
  try {
    return JSON.parse(text) as ToolResult
  } catch (error) {
    const lines = text.trim().split('\n')
    if (lines.length < 2) throw error
    const objects = lines.map((line) => JSON.parse(line) as {type?: string} & Record<string, unknown>)
    const {type, rowCount: _, ...summary} = objects.pop()!
    if (type !== 'summary') throw error
    const result = summary as unknown as ToolResult
    const last = result.intervals?.at(-1)?.data
    if (last?.kind === 'rows') last.rows = objects.filter((o) => o.type === 'row').map(({type: __, ...row}) => row as Row)
    return result
  }
}
