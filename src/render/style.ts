/**
 * How text output looks where it goes: on a terminal, the terminal's width and colour; piped, into a
 * file, or with NO_COLOR set (https://no-color.org), plain text laid out as always (80 columns), so
 * what scripts read never changes with the terminal. --json never goes through here.
 */
export interface TextStyle {
  /** Output goes to a terminal: use its width, mark percentiles. */
  terminal: boolean
  color: boolean
  /** Columns the output may use. */
  width: number
}

export const PLAIN: TextStyle = {terminal: false, color: false, width: 80}

export function terminalStyle(stream: {isTTY?: boolean; columns?: number} = process.stdout, env: NodeJS.ProcessEnv = process.env): TextStyle {
  if (!stream.isTTY) return PLAIN
  const noColor = (env.NO_COLOR ?? '') !== '' || env.TERM === 'dumb'
  return {terminal: true, color: !noColor, width: stream.columns && stream.columns > 0 ? stream.columns : PLAIN.width}
}

// SGR codes: the few this output uses, not a colour library's worth.
const SGR = {bold: 1, dim: 2, red: 31, green: 32, yellow: 33, cyan: 36} as const
export type Paint = keyof typeof SGR

/** Text painted with the style's colour, or unchanged when the style has none. */
export function paint(style: TextStyle, text: string, ...paints: Paint[]): string {
  if (!style.color || paints.length === 0 || text === '') return text
  return `\u001B[${paints.map((p) => SGR[p]).join(';')}m${text}\u001B[0m`
}
