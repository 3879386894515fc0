/**
 * sched_switch reports a task preempted while runnable not as state 0 (TASK_RUNNING) but with a
 * marker bit added, whose value has changed between kernels (TASK_STATE_MAX, 1024 or 2048 before
 * 4.14; TASK_REPORT_MAX, 0x100, after). The event's print format says which: it prints "+" when
 * `REC->prev_state & <marker>`, and the state letters from the bits below the marker, so a state
 * is runnable when `prev_state & (marker - 1)` is 0.
 */
export function preemptMarker(formatText: string): number | undefined {
  const print = /^print fmt: (.*)$/m.exec(formatText)?.[1]
  if (!print) return undefined
  // The operand of the test whose true branch prints "+": no "?" inside it.
  const expression = /REC->prev_state & ([^?"]+?) \? "\+"/.exec(print)?.[1]
  if (!expression) return undefined
  const value = evaluate(expression)
  // One bit, or it is not a marker this code understands.
  return value !== undefined && value > 0 && (value & (value - 1)) === 0 ? value : undefined
}

// The integer expressions kernels print here: numbers, + - << >> & | and parentheses.
const TOKEN = /\s*(0x[0-9a-fA-F]+|\d+|<<|>>|[-+&|()])/y
const LEVELS = [['|'], ['&'], ['<<', '>>'], ['+', '-']]

function evaluate(text: string): number | undefined {
  const tokens: string[] = []
  let end = 0
  TOKEN.lastIndex = 0
  for (let m; (m = TOKEN.exec(text)); end = TOKEN.lastIndex) tokens.push(m[1])
  if (text.slice(end).trim() !== '') return undefined
  let at = 0
  const apply = (op: string, a: number, b: number) =>
    ({'|': a | b, '&': a & b, '<<': a << b, '>>': a >> b, '+': a + b, '-': a - b})[op]!
  const binary = (level: number): number | undefined => {
    if (level === LEVELS.length) return primary()
    let left = binary(level + 1)
    while (left !== undefined && LEVELS[level].includes(tokens[at])) {
      const op = tokens[at++]
      const right = binary(level + 1)
      if (right === undefined) return undefined
      left = apply(op, left, right)
    }
    return left
  }
  const primary = (): number | undefined => {
    const token = tokens[at++]
    if (token === '(') {
      const value = binary(0)
      return tokens[at++] === ')' ? value : undefined
    }
    return token !== undefined && /^(0x[0-9a-fA-F]+|\d+)$/.test(token) ? Number(token) : undefined
  }
  const value = binary(0)
  return at === tokens.length ? value : undefined
}
