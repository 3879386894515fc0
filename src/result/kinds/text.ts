import {PLAIN, type TextStyle, paint} from '../../render/style.js'
import {columns} from '../../render/table.js'

/** The bar width of plain output, as bcc's tools have it; a terminal gets what its width leaves. */
export const BAR_WIDTH = 40

export const bar = (count: number, max: number, width: number) => (max === 0 ? '' : '*'.repeat(Math.round((count / max) * width)))

/** What a kind prints for an interval without any event. */
export const NO_EVENTS = '(no events)'

/** Rows laid out in columns under a header that is bold on a terminal. */
export function headedColumns(rows: string[][], style: TextStyle = PLAIN): string[] {
  const [header, ...body] = columns(rows)
  return [paint(style, header, 'bold'), ...body]
}
