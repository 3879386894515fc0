import type {Histogram, Histograms, TimeUnit} from '../result/kinds/histograms.js'
import type {ToolResult} from '../result/model.js'
import {xmlEscape} from './flamegraph.js'
import {type RunTitle, countText, runTitleText, secondsText} from './picture.js'
import {PLAIN, type TextStyle} from './style.js'

/**
 * Latency heat maps: a log2 histograms result (biolatency, runqlat, funclatency, tcprtt ...) as time
 * against latency, one column per interval of the run, one row per log2 bucket (the lowest at the
 * bottom), each cell coloured by how many events of that interval fell in that bucket. One panel per
 * histogram label (a disk, a host), all on the same rows and columns so that they compare. Drawn as a
 * self-contained SVG file (no script, nothing fetched) or as coloured blocks in a terminal.
 *
 * The colour scale is discrete and logarithmic: nine levels, level = ceil(9 * log(count) / log(max)), at least 1, so that the SVG's legend,
 * the terminal's colours and its fallback characters say the same thing; an empty cell is level 0.
 */

/** What the title names; the host is null when it is not known (a saved result read by `diag show`). */
export type HeatMapTitle = RunTitle

export interface HeatMapColumn {
  /** When the interval ended (ISO time) and seconds since the run started at its end. */
  time: string
  end: number
  seconds: number
}

/** A log2 bucket as a row: index i holds [2^i, 2^(i+1) - 1], index 0 holds 0 and 1. */
export interface HeatMapRow {
  index: number
  low: number
  high: number
}

export interface HeatMapPanel {
  label: string | null
  /** counts[column][row], rows as in HeatMap.rows. */
  counts: number[][]
  total: number
}

export interface HeatMap {
  unit: TimeUnit
  labelKey: string | null
  columns: HeatMapColumn[]
  /** From the lowest bucket holding an event to the highest, every bucket between them included; lowest first. */
  rows: HeatMapRow[]
  panels: HeatMapPanel[]
  /** The largest count of any cell: the top of the colour scale. */
  max: number
}

/** The levels of the colour scale above "empty". */
export const LEVELS = 9

/** The row index of a log2 bucket, from its low bound (0 or 1 for the first, 2^i for the others). */
export function bucketIndex(low: number): number {
  return low <= 1 ? 0 : Math.round(Math.log2(low))
}

export function rowOf(index: number): HeatMapRow {
  return {index, low: index === 0 ? 0 : 2 ** index, high: 2 ** (index + 1) - 1}
}

/**
 * A cell's level on the colour scale: 0 for no events, else 1..LEVELS by log(count) as a share of
 * log(max): one event is always the palest, the largest cell the darkest. Logarithmic because latency
 * spans orders of magnitude: on a linear scale the tail (a few slow events a second) would be the
 * same pale colour as a handful beside a mode of thousands.
 */
export function levelOf(count: number, max: number): number {
  if (!(count > 0) || !(max > 0)) return 0
  if (count >= max) return LEVELS
  return Math.min(LEVELS, Math.max(1, Math.ceil((LEVELS * Math.log(count)) / Math.log(max) - 1e-9)))
}

/** The smallest count of `level` or above (levelOf grows with the count): a binary search, so the legend and levelOf never disagree. */
function firstCountOf(level: number, max: number): number {
  let low = 1
  let high = max + 1
  while (low < high) {
    const middle = Math.floor((low + high) / 2)
    if (levelOf(middle, max) >= level) high = middle
    else low = middle + 1
  }
  return low
}

/** The counts each level stands for (inclusive), for the legend; undefined for a level no count reaches (few events). */
export function levelRange(level: number, max: number): {low: number; high: number} | undefined {
  if (level < 1 || level > LEVELS || !(max > 0)) return undefined
  const low = firstCountOf(level, max)
  const high = level === LEVELS ? max : firstCountOf(level + 1, max) - 1
  return low <= high ? {low, high} : undefined
}

/** The intervals of a histograms result laid out as a heat map. Intervals with no data (or no events) are empty columns. */
export function heatMapOf(result: Pick<ToolResult, 'tool' | 'intervals'>): HeatMap {
  const histograms: Histograms[] = []
  for (const interval of result.intervals) {
    if (interval.data.kind !== 'histograms') throw new Error(`${result.tool} gives ${interval.data.kind}, not log2 histograms: no heat map`)
    histograms.push(interval.data)
  }
  const first = histograms[0]
  const labels: (string | null)[] = []
  for (const data of histograms) for (const h of data.histograms) if (!labels.includes(h.label)) labels.push(h.label)

  let lowest = Infinity
  let highest = -Infinity
  for (const data of histograms)
    for (const h of data.histograms)
      for (const b of h.buckets)
        if (b.count > 0) {
          lowest = Math.min(lowest, bucketIndex(b.low))
          highest = Math.max(highest, bucketIndex(b.low))
        }
  const rows = highest >= lowest ? Array.from({length: highest - lowest + 1}, (_, i) => rowOf(lowest + i)) : []

  let elapsed = 0
  const columns = result.intervals.map((interval) => ({time: interval.time, end: (elapsed += interval.seconds), seconds: interval.seconds}))
  let max = 0
  const panels = labels.map((label): HeatMapPanel => {
    let total = 0
    const counts = histograms.map((data) => {
      const cells = rows.map(() => 0)
      const histogram: Histogram | undefined = data.histograms.find((h) => h.label === label)
      for (const b of histogram?.buckets ?? []) {
        if (!(b.count > 0)) continue
        cells[bucketIndex(b.low) - lowest] += b.count
        total += b.count
      }
      max = Math.max(max, ...cells)
      return cells
    })
    return {label, counts, total}
  })
  return {unit: first?.unit ?? 'usecs', labelKey: first?.labelKey ?? null, columns, rows, panels, max}
}


/** A panel's heading: "disk = sda", or nothing for the one histogram of the whole system. */
function panelHeading(map: HeatMap, panel: HeatMapPanel): string | undefined {
  return panel.label === null ? undefined : `${map.labelKey ?? 'label'} = ${panel.label}`
}

// ColorBrewer's YlOrRd, 9 classes (light to dark): a sequential scale that reads in grey too.
export const COLOURS = ['#ffffcc', '#ffeda0', '#fed976', '#feb24c', '#fd8d3c', '#fc4e2a', '#e31a1c', '#bd0026', '#800026'] as const
const EMPTY_COLOUR = '#f4f4f4'

export function levelColour(level: number): string {
  return level === 0 ? EMPTY_COLOUR : COLOURS[level - 1]
}

// The page's geometry.
const LEFT = 150
const RIGHT = 20
const PLOT_WIDTH = 900
const WIDTH = LEFT + PLOT_WIDTH + RIGHT
const ROW_HEIGHT = 16
const HEADER = 120
const PANEL_HEADING = 24
const X_AXIS = 44
const PANEL_GAP = 16
const FONT_SIZE = 12

const STYLE = `
text { font-family: Verdana, sans-serif; font-size: ${FONT_SIZE}px; fill: #000; }
#title { font-size: 15px; }
#subtitle, .axis-title, .legend text { fill: #333; }
.panel-heading { font-weight: bold; }
.tick { font-size: 10px; fill: #333; }
.cell:hover { stroke: #000; stroke-width: 1; }
`

/** Up to about ten evenly spaced column boundaries to label on the x axis, always the first and the last. */
function ticks(columns: number): number[] {
  if (columns === 0) return [0]
  const step = Math.max(1, Math.ceil(columns / 10))
  const out: number[] = []
  for (let c = 0; c < columns; c += step) out.push(c)
  if (columns - out.at(-1)! < step / 2 && out.length > 1) out.pop()
  out.push(columns)
  return out
}

/** The heat map as one SVG document, its style inline and no script: the cells' counts show as tooltips. */
export function renderHeatMapSvg(map: HeatMap, title: HeatMapTitle): string {
  const rowsShown = Math.max(1, map.rows.length)
  const panelHeight = PANEL_HEADING + rowsShown * ROW_HEIGHT + X_AXIS
  const panels = map.panels.length > 0 ? map.panels : [{label: null, counts: [], total: 0}]
  const height = HEADER + panels.length * (panelHeight + PANEL_GAP) + 10
  const columns = map.columns.length
  const cellWidth = columns > 0 ? PLOT_WIDTH / columns : PLOT_WIDTH
  const total = map.panels.reduce((s, p) => s + p.total, 0)
  const interval = columns > 0 ? map.columns[0].seconds : 0
  const subtitle =
    total > 0
      ? `${countText(total)} events in ${columns} interval${columns === 1 ? '' : 's'} of ${secondsText(interval)}; colour by events per interval and ${map.unit} bucket`
      : `no events were recorded in ${columns} interval${columns === 1 ? '' : 's'}`

  const legend: string[] = [`<g class="legend">`, `<text x="${LEFT}" y="${HEADER - 52}">events per cell</text>`]
  const swatch = 64
  for (let level = 0; level <= LEVELS; level++) {
    const x = LEFT + 110 + level * (swatch + 4)
    const range = level === 0 ? {low: 0, high: 0} : levelRange(level, map.max)
    const text = !range ? '' : range.low === range.high ? countText(range.low) : `${countText(range.low)}-${countText(range.high)}`
    legend.push(
      `<rect class="swatch" data-level="${level}" x="${x}" y="${HEADER - 64}" width="${swatch}" height="14" fill="${levelColour(level)}" stroke="#999" stroke-width="0.5"/>`,
      `<text class="tick" x="${x + swatch / 2}" y="${HEADER - 38}" text-anchor="middle">${text}</text>`,
    )
  }
  legend.push(`</g>`)

  const body: string[] = []
  panels.forEach((panel, p) => {
    const top = HEADER + p * (panelHeight + PANEL_GAP)
    const plotTop = top + PANEL_HEADING
    const plotHeight = rowsShown * ROW_HEIGHT
    const heading = panelHeading(map, panel)
    body.push(`<g class="panel" data-label="${panel.label === null ? '' : xmlEscape(panel.label)}" data-total="${panel.total}">`)
    if (heading) body.push(`<text class="panel-heading" x="${LEFT}" y="${top + 16}">${xmlEscape(heading)} (${countText(panel.total)} events)</text>`)
    body.push(`<rect x="${LEFT}" y="${plotTop}" width="${PLOT_WIDTH}" height="${plotHeight}" fill="${EMPTY_COLOUR}"/>`)
    if (map.rows.length === 0) body.push(`<text x="${LEFT + PLOT_WIDTH / 2}" y="${plotTop + 12}" text-anchor="middle">no events</text>`)
    // Rows from the top: the highest bucket first.
    map.rows.forEach((row, r) => {
      const y = plotTop + (map.rows.length - 1 - r) * ROW_HEIGHT
      body.push(`<text class="tick" x="${LEFT - 6}" y="${y + ROW_HEIGHT - 4}" text-anchor="end">${row.low}-${row.high}</text>`)
      panel.counts.forEach((cells, c) => {
        const count = cells[r]
        const column = map.columns[c]
        const when = `${secondsText(column.end - column.seconds)}-${secondsText(column.end)}`
        body.push(
          `<rect class="cell" data-column="${c}" data-low="${row.low}" data-count="${count}" x="${(LEFT + c * cellWidth).toFixed(2)}" y="${y}" width="${cellWidth.toFixed(2)}" height="${ROW_HEIGHT}" fill="${levelColour(levelOf(count, map.max))}">` +
            `<title>${xmlEscape(`${heading ? `${heading}, ` : ''}${when}: ${countText(count)} events of ${row.low}-${row.high} ${map.unit}`)}</title></rect>`,
        )
      })
    })
    // Axes: the frame, the x ticks (seconds since the start), and both titles.
    const axisY = plotTop + plotHeight
    body.push(`<rect x="${LEFT}" y="${plotTop}" width="${PLOT_WIDTH}" height="${plotHeight}" fill="none" stroke="#666" stroke-width="0.8"/>`)
    for (const c of ticks(columns)) {
      const x = LEFT + c * cellWidth
      const end = c === 0 ? 0 : map.columns[c - 1].end
      body.push(`<line x1="${x.toFixed(2)}" y1="${axisY}" x2="${x.toFixed(2)}" y2="${axisY + 4}" stroke="#666"/>`)
      body.push(`<text class="tick" x="${x.toFixed(2)}" y="${axisY + 15}" text-anchor="middle">${secondsText(end)}</text>`)
    }
    body.push(`<text class="axis-title" x="${LEFT + PLOT_WIDTH / 2}" y="${axisY + 32}" text-anchor="middle">time since the start (one column per interval)</text>`)
    const middle = plotTop + plotHeight / 2
    body.push(`<text class="axis-title" x="16" y="${middle}" text-anchor="middle" transform="rotate(-90 16 ${middle})">latency (${map.unit}, log2)</text>`)
    body.push(`</g>`)
  })

  return [
    `<?xml version="1.0" encoding="UTF-8" standalone="no"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" data-columns="${columns}" data-rows="${map.rows.length}" data-max="${map.max}">`,
    `<style>${STYLE}</style>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text id="title" x="10" y="22">${xmlEscape(`Latency heat map: ${runTitleText(title)}`)}</text>`,
    `<text id="subtitle" x="10" y="42">${xmlEscape(subtitle)}</text>`,
    ...legend,
    ...body,
    `</svg>`,
    '',
  ].join('\n')
}

// The terminal's form. 256-colour backgrounds close to the SVG's scale (xterm's palette).
const TERMINAL_COLOURS = [230, 229, 222, 215, 209, 202, 196, 160, 88] as const
/** Without colour: a density ramp, one character per level (level 0 a space). */
export const RAMP = ' .:-=+*#%@'

function cell(level: number, style: TextStyle, width: number): string {
  if (!style.color) return RAMP[level].repeat(width)
  if (level === 0) return ' '.repeat(width)
  return `\u001B[48;5;${TERMINAL_COLOURS[level - 1]}m${' '.repeat(width)}\u001B[0m`
}

/**
 * The heat map as text: per panel, a row per bucket (highest on top) labelled as the histograms are,
 * a cell per interval, then a time axis and the scale. In colour on a terminal that has it; else the
 * density ramp (NO_COLOR, a pipe, a file). Columns that do not fit the width are the earliest ones,
 * left out and said so.
 */
export function renderHeatMapText(map: HeatMap, title: HeatMapTitle, style: TextStyle = PLAIN): string[] {
  const lines = [`Latency heat map: ${runTitleText(title)}`]
  if (map.rows.length === 0) return [...lines, `no events were recorded in ${map.columns.length} intervals`]
  const labelWidth = Math.max(...map.rows.map((r) => `${r.low} -> ${r.high}`.length), map.unit.length)
  const room = Math.max(10, style.width - labelWidth - 3)
  const columns = map.columns.length
  const cellWidth = columns * 2 <= room ? 2 : 1
  const shown = Math.min(columns, Math.floor(room / cellWidth))
  const from = columns - shown
  const interval = columns > 0 ? map.columns[0].seconds : 0
  lines.push(`time runs left to right, one column per ${secondsText(interval)} interval; latency in ${map.unit}, log2 buckets`)
  if (from > 0) lines.push(`(the first ${from} intervals do not fit the width and are left out)`)
  for (const panel of map.panels) {
    const heading = panelHeading(map, panel)
    lines.push('')
    if (heading) lines.push(`${heading} (${countText(panel.total)} events)`)
    lines.push(`${map.unit.padStart(labelWidth)}`)
    for (let r = map.rows.length - 1; r >= 0; r--) {
      const row = map.rows[r]
      const cells = panel.counts.slice(from).map((column) => cell(levelOf(column[r], map.max), style, cellWidth))
      lines.push(`${`${row.low} -> ${row.high}`.padStart(labelWidth)} |${cells.join('')}|`)
    }
    const start = secondsText(from === 0 ? 0 : map.columns[from - 1].end)
    const end = secondsText(columns > 0 ? map.columns[columns - 1].end : 0)
    const axisWidth = shown * cellWidth
    lines.push(`${' '.repeat(labelWidth + 2)}${start}${end.padStart(Math.max(end.length + 1, axisWidth - start.length))}`)
  }
  const scale: string[] = []
  for (let level = 1; level <= LEVELS; level++) {
    const range = levelRange(level, map.max)
    if (!range) continue
    const text = range.low === range.high ? countText(range.low) : `${countText(range.low)}-${countText(range.high)}`
    scale.push(`${style.color ? cell(level, style, 2) : `'${RAMP[level]}'`} ${text}`)
  }
  lines.push('', `events per cell: ${scale.join('  ')}`)
  return lines
}
