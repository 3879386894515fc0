/**
 * Reading a hist trigger's `hist` file:
 *   { id: sys_getppid                   [110] } hitcount:       2000
 *   { common_pid: bash            [      1234] } hitcount:         12
 *   { dev:  265289728, lat:         12 } hitcount:          3
 *   { common_pid: curl [ 1234] } hitcount:         10  bytes:     655360
 *   Totals:
 *       Hits: 67612
 *       Entries: 72
 *       Dropped: 0
 */
export interface HistEntry {
  /** Each key field: its number (the bracketed one for .syscall/.execname keys) and its text. */
  keys: Record<string, {number: number; text: string}>
  hitcount: number
  /** The sums of the trigger's `vals=` fields besides hitcount, by name (absent when it has none). */
  values?: Record<string, number>
}

export interface Hist {
  entries: HistEntry[]
  /** Events a full table refused (every table in the file, summed). */
  dropped: number
}

const ENTRY = /^\{\s*(.*?)\s*\}\s+hitcount:\s*(\d+)(.*)$/

function parseKeys(text: string): HistEntry['keys'] {
  const keys: HistEntry['keys'] = {}
  // Fields are "name: value", separated by commas; a value has no comma of its own.
  for (const part of text.split(',')) {
    const m = /^\s*(\w+):\s*(.*?)\s*$/.exec(part)
    if (!m) continue
    const bracketed = /\[\s*(\d+)\s*\]\s*$/.exec(m[2])
    const number = bracketed ? Number(bracketed[1]) : Number(m[2].replace(/^~\s*/, ''))
    keys[m[1]] = {number, text: m[2].replace(/\s*\[\s*\d+\s*\]\s*$/, '')}
  }
  return keys
}

export function parseHist(text: string): Hist {
  const entries: HistEntry[] = []
  for (const line of text.split('\n')) {
    const m = ENTRY.exec(line)
    if (!m) continue
    const values = Object.fromEntries([...m[3].matchAll(/(\w+):\s*(-?\d+)/g)].map((v) => [v[1], Number(v[2])]))
    entries.push({keys: parseKeys(m[1]), hitcount: Number(m[2]), ...(Object.keys(values).length > 0 ? {values} : {})})
  }
  // An event with several hist triggers lists each table with its own totals: all count.
  const dropped = [...text.matchAll(/^\s*Dropped:\s*(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
  return {entries, dropped}
}
