import type {Row, RowColumn} from '../result/model.js'

// bcc's column widths ("%-9s %-7s %-16s %10s %s" in gethostlatency): rows print as they come,
// so widths are fixed by the column's type, not measured; the last column is never padded.
const WIDTH: Record<RowColumn['type'], number> = {time: 8, integer: 7, string: 16, number: 10}

function cell(column: RowColumn, value: string | number | null): string {
  if (value === null) return '-'
  if (column.type === 'time' && typeof value === 'string') return value.slice(11, 19)
  if (column.type === 'number' && typeof value === 'number') return value.toFixed(2)
  return String(value)
}

function line(columns: RowColumn[], cells: string[]): string {
  return columns
    .map((column, i) => {
      if (i === columns.length - 1) return cells[i]
      return column.type === 'number' ? cells[i].padStart(WIDTH[column.type]) : cells[i].padEnd(WIDTH[column.type])
    })
    .join(' ')
    .trimEnd()
}

/** The column titles, once, before the rows: "TIME     PID     COMM                  LATms HOST". */
export function renderRowsHeader(columns: RowColumn[]): string {
  return line(columns, columns.map((c) => c.title))
}

/** One row as a text line, in the header's columns. */
export function renderRow(columns: RowColumn[], row: Row): string {
  return line(columns, columns.map((c) => cell(c, row[c.name] ?? null)))
}
