/**
 * The check language of runbooks: comparisons of a result's metrics with numbers, joined by
 * `and`/`or`. A small recursive-descent parser (no eval); every error names its column.
 *
 *   check      = or
 *   or         = and { ("or" | "||") and }
 *   and        = comparison { ("and" | "&&") comparison }
 *   comparison = "(" or ")" | operand op operand
 *   operand    = NUMBER [unit] | metric [ "(" IDENT "==" STRING ")" ]
 *   op         = "<" | "<=" | ">" | ">=" | "==" | "!="
 *   unit       = "ns" | "us" | "µs" | "ms" | "s"
 *
 * Examples: `p99 < 10ms`, `lost == 0`, `count(syscall == "openat") < 100000 and p50 <= 2ms`.
 */

export type Operator = '<' | '<=' | '>' | '>=' | '==' | '!='
export type TimeUnitName = 'ns' | 'us' | 'ms' | 's'

export const NS_PER: Record<TimeUnitName, number> = {ns: 1, us: 1_000, ms: 1_000_000, s: 1_000_000_000}

export type Operand =
  | {kind: 'number'; value: number; unit?: TimeUnitName; text: string}
  | {kind: 'metric'; name: string; selector?: {key: string; value: string}; text: string}

export type Expression =
  | {kind: 'compare'; op: Operator; left: Operand; right: Operand; text: string}
  | {kind: 'and' | 'or'; left: Expression; right: Expression}

export class ExpressionError extends Error {
  constructor(
    message: string,
    /** 1-based column in the expression's text. */
    readonly column: number,
  ) {
    super(message)
  }
}

type Token =
  | {kind: 'number'; value: number; unit?: TimeUnitName; at: number; text: string}
  | {kind: 'string'; value: string; at: number; text: string}
  | {kind: 'ident'; value: string; at: number; text: string}
  | {kind: 'op'; value: Operator; at: number; text: string}
  | {kind: 'punct'; value: '(' | ')'; at: number; text: string}
  | {kind: 'logic'; value: 'and' | 'or'; at: number; text: string}
  | {kind: 'end'; at: number; text: string}

const UNITS: Record<string, TimeUnitName> = {ns: 'ns', us: 'us', µs: 'us', ms: 'ms', s: 's'}

function tokenize(text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const rest = text.slice(i)
    const space = /^\s+/.exec(rest)
    if (space) {
      i += space[0].length
      continue
    }
    const number = /^(\d+(?:\.\d+)?(?:e[+-]?\d+)?)(ns|us|µs|ms|s)?(?![\w.])/.exec(rest)
    if (number) {
      tokens.push({kind: 'number', value: Number(number[1]), unit: number[2] ? UNITS[number[2]] : undefined, at: i, text: number[0]})
      i += number[0].length
      continue
    }
    if (/^\d/.test(rest)) throw new ExpressionError(`"${/^\S+/.exec(rest)![0]}" is not a number with a unit (ns, us, ms, s)`, i + 1)
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest)
    if (ident) {
      const word = ident[0]
      if (word === 'and' || word === 'or') tokens.push({kind: 'logic', value: word, at: i, text: word})
      else tokens.push({kind: 'ident', value: word, at: i, text: word})
      i += word.length
      continue
    }
    const logic = /^(&&|\|\|)/.exec(rest)
    if (logic) {
      tokens.push({kind: 'logic', value: logic[0] === '&&' ? 'and' : 'or', at: i, text: logic[0]})
      i += 2
      continue
    }
    const op = /^(<=|>=|==|!=|<|>)/.exec(rest)
    if (op) {
      tokens.push({kind: 'op', value: op[0] as Operator, at: i, text: op[0]})
      i += op[0].length
      continue
    }
    if (rest[0] === '(' || rest[0] === ')') {
      tokens.push({kind: 'punct', value: rest[0], at: i, text: rest[0]})
      i += 1
      continue
    }
    if (rest[0] === '"') {
      const string = /^"((?:[^"\\]|\\.)*)"/.exec(rest)
      if (!string) throw new ExpressionError('a string is not closed with "', i + 1)
      tokens.push({kind: 'string', value: string[1].replace(/\\(.)/g, '$1'), at: i, text: string[0]})
      i += string[0].length
      continue
    }
    throw new ExpressionError(`unexpected "${rest[0]}"`, i + 1)
  }
  tokens.push({kind: 'end', at: text.length, text: ''})
  return tokens
}

/** Parses a check; throws ExpressionError with the column of the first mistake. */
export function parseExpression(text: string): Expression {
  const tokens = tokenize(text)
  let next = 0
  const peek = () => tokens[next]
  const take = () => tokens[next++]
  const fail = (token: Token, what: string): never => {
    throw new ExpressionError(`${what}, found ${token.kind === 'end' ? 'the end' : `"${token.text}"`}`, token.at + 1)
  }

  const operand = (): Operand => {
    const token = take()
    if (token.kind === 'number') return {kind: 'number', value: token.value, unit: token.unit, text: token.text}
    if (token.kind !== 'ident') return fail(token, 'expected a metric (p99, lost, count ...) or a number')
    if (peek().text !== '(') return {kind: 'metric', name: token.value, text: token.text}
    take()
    const key = take()
    if (key.kind !== 'ident') return fail(key, `expected what to select in ${token.value}(...), as in ${token.value}(syscall == "read")`)
    const equals = take()
    if (equals.kind !== 'op' || equals.value !== '==') return fail(equals, 'expected ==')
    const value = take()
    if (value.kind !== 'string') return fail(value, 'expected a "quoted" value')
    const close = take()
    if (close.kind !== 'punct' || close.value !== ')') return fail(close, 'expected )')
    return {kind: 'metric', name: token.value, selector: {key: key.value, value: value.value}, text: text.slice(token.at, close.at + 1)}
  }

  const comparison = (): Expression => {
    const start = peek()
    if (start.kind === 'punct' && start.value === '(') {
      take()
      const inner = or()
      const close = take()
      if (close.kind !== 'punct' || close.value !== ')') fail(close, 'expected )')
      return inner
    }
    const left = operand()
    const op = take()
    if (op.kind !== 'op') return fail(op, 'expected a comparison (<, <=, >, >=, ==, !=)')
    const right = operand()
    const end = tokens[next - 1]
    return {kind: 'compare', op: op.value, left, right, text: text.slice(start.at, end.at + end.text.length)}
  }

  const chain = (kind: 'and' | 'or', item: () => Expression) => (): Expression => {
    let left = item()
    for (let token = peek(); token.kind === 'logic' && token.value === kind; token = peek()) {
      take()
      left = {kind, left, right: item()}
    }
    return left
  }
  const and = chain('and', comparison)
  const or = chain('or', and)

  const expression = or()
  if (peek().kind !== 'end') fail(peek(), 'expected and, or, or the end')
  return expression
}

/** Every comparison of an expression, in order. */
export function comparisons(expression: Expression): Extract<Expression, {kind: 'compare'}>[] {
  return expression.kind === 'compare' ? [expression] : [...comparisons(expression.left), ...comparisons(expression.right)]
}

export function compare(left: number, op: Operator, right: number): boolean {
  switch (op) {
    case '<':
      return left < right
    case '<=':
      return left <= right
    case '>':
      return left > right
    case '>=':
      return left >= right
    case '==':
      return left === right
    case '!=':
      return left !== right
  }
}
