import {readFileSync} from 'node:fs'

import {Ajv, type ErrorObject} from 'ajv'
import {type Document, LineCounter, isMap, isNode, isScalar, parseDocument} from 'yaml'

import {BadInputError} from '../errors.js'
import {findTool} from '../../tools/index.js'
import {packageRoot} from '../system/paths.js'
import {type Expression, ExpressionError, parseExpression} from './expression.js'
import {type OutputKind, checkExpression} from './metrics.js'

/**
 * A runbook file (YAML, schema/runbook.schema.json) read, checked against this diag and with its
 * variables filled in. Every mistake is refused before anything runs, with its line and column.
 */
export interface Check {
  expect: string
  name: string
  severity: 'fail' | 'warn'
  expression: Expression
}

export interface Step {
  name: string
  tool: string
  /** The diag command line of this step, without `diag`: [tool, args..., --flags..., --duration, N]. */
  argv: string[]
  duration: number | undefined
  command: string[] | undefined
  /** Where the step's latency heat map goes (`heatmap:`, a histograms tool only), passed on as --heatmap. */
  heatmap: string | undefined
  checks: Check[]
}

export interface Runbook {
  name: string
  description: string
  source: string
  variables: Record<string, string>
  /** In order; the steps of one entry run at once. */
  entries: Step[][]
}

/** What a runbook may set of a tool's flags, as oclif describes them (its manifest). */
export interface FlagInfo {
  type: 'boolean' | 'option'
  options?: readonly string[]
  multiple?: boolean
}

export type FlagsOf = (tool: string) => Record<string, FlagInfo> | undefined

/**
 * Flags a step may not set under flags:. Those a step sets through its own field name that field
 * (what it is, and how it is written); the others belong to diag rather than to the step (null).
 */
const RESERVED_FLAGS = new Map<string, {what: string; field: string} | null>([
  ['json', null],
  ['quiet', null],
  ['help', null],
  ['duration', {what: 'duration', field: 'duration: SECONDS'}],
  ['heatmap', {what: 'heat map', field: 'heatmap: FILE'}],
  ['heatmap-terminal', {what: 'heat map', field: 'heatmap: FILE'}],
])

export class RunbookError extends BadInputError {
  constructor(source: string, line: number | undefined, column: number | undefined, message: string) {
    super(`${source}${line ? `:${line}:${column}` : ''}: ${message}`, {file: source, line, column})
  }
}

let validateFile: ReturnType<Ajv['compile']> | undefined

function schemaValidator() {
  if (!validateFile) {
    const schema = JSON.parse(readFileSync(`${packageRoot}/schema/runbook.schema.json`, 'utf8'))
    validateFile = new Ajv({allErrors: true, allowUnionTypes: true}).compile(schema)
  }
  return validateFile
}

/** The most telling of ajv's errors for a oneOf: the deepest, then the first. */
function mainError(errors: ErrorObject[]): ErrorObject {
  const depth = (e: ErrorObject) => e.instancePath.split('/').length
  return [...errors].filter((e) => e.keyword !== 'oneOf').sort((a, b) => depth(b) - depth(a))[0] ?? errors[0]
}

function describe(error: ErrorObject): string {
  const where = error.instancePath || 'the file'
  if (error.keyword === 'additionalProperties') return `${where}: unknown field "${(error.params as {additionalProperty: string}).additionalProperty}"`
  if (error.keyword === 'required') return `${where}: missing "${(error.params as {missingProperty: string}).missingProperty}"`
  if (error.keyword === 'enum') return `${where} must be one of ${(error.params as {allowedValues: unknown[]}).allowedValues.join(', ')}`
  return `${where} ${error.message}`
}

export interface LoadOptions {
  /** `--set name=value`, over the file's `variables`. */
  set?: Record<string, string>
  flagsOf: FlagsOf
}

/** Reads and checks a runbook; throws RunbookError (exit 2) naming the line and column. */
export function parseRunbook(text: string, source: string, options: LoadOptions): Runbook {
  const lines = new LineCounter()
  const doc: Document = parseDocument(text, {lineCounter: lines, prettyErrors: false})
  const at = (offset: number | undefined) => (offset === undefined ? undefined : lines.linePos(offset))
  const fail = (offset: number | undefined, message: string): never => {
    const pos = at(offset)
    throw new RunbookError(source, pos?.line, pos?.col, message)
  }
  if (doc.errors.length > 0) fail(doc.errors[0].pos[0], doc.errors[0].message.split('\n')[0])

  const nodeAt = (path: (string | number)[]) => {
    const node = doc.getIn(path, true)
    return isNode(node) ? node : undefined
  }
  const offsetOf = (path: (string | number)[]) => {
    for (let p = path; ; p = p.slice(0, -1)) {
      const node = nodeAt(p)
      if (node?.range) return node.range[0]
      if (p.length === 0) return 0
    }
  }
  const pathOf = (pointer: string) => pointer.split('/').slice(1).map((part) => (/^\d+$/.test(part) ? Number(part) : part.replace(/~1/g, '/').replace(/~0/g, '~')))

  /** Where a map's key is: an unknown field is pointed at by its name. */
  const keyOffset = (path: (string | number)[], key: string) => {
    const map = nodeAt(path)
    const pair = isMap(map) ? map.items.find((p) => isScalar(p.key) && p.key.value === key) : undefined
    return isScalar(pair?.key) ? pair.key.range?.[0] : undefined
  }

  const data = doc.toJS() as RawRunbook
  const validate = schemaValidator()
  if (!validate(data)) {
    const error = mainError(validate.errors!)
    const path = pathOf(error.instancePath)
    const field = error.keyword === 'additionalProperties' ? (error.params as {additionalProperty: string}).additionalProperty : undefined
    fail((field ? keyOffset(path, field) : undefined) ?? offsetOf(path), describe(error))
  }

  const variables: Record<string, string> = {}
  for (const [name, value] of Object.entries(data.variables ?? {})) variables[name] = String(value)
  for (const [name, value] of Object.entries(options.set ?? {})) variables[name] = value

  /** Fills ${name} in a value; an unknown name is an error at that value. */
  const fill = (value: unknown, path: (string | number)[]): string => {
    const text = String(value)
    return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
      if (!(name in variables)) fail(offsetOf(path), `no variable "${name}": set it with --set ${name}=VALUE or under variables:`)
      return variables[name]
    })
  }

  const names = new Set<string>()
  const step = (raw: RawStep, path: (string | number)[]): Step => {
    const tool = findTool(raw.tool)
    if (!tool) fail(offsetOf([...path, 'tool']), `unknown tool "${raw.tool}"`)
    const flagInfo = options.flagsOf(raw.tool) ?? {}
    const name = raw.name ?? raw.tool
    if (names.has(name)) fail(offsetOf([...path, raw.name ? 'name' : 'tool']), `a second step named "${name}": give each step its own name:`)
    names.add(name)

    const argv = [raw.tool, ...(raw.args ?? []).map((a, i) => fill(a, [...path, 'args', i]))]
    for (const [flag, value] of Object.entries(raw.flags ?? {})) {
      const where = [...path, 'flags', flag]
      const info = flagInfo[flag]
      const ownField = RESERVED_FLAGS.get(flag)
      if (ownField) fail(keyOffset([...path, 'flags'], flag) ?? offsetOf(where), `a step's ${ownField.what} is its own field, ${ownField.field}, not a flag`)
      if (!info || RESERVED_FLAGS.has(flag))
        fail(keyOffset([...path, 'flags'], flag) ?? offsetOf(where), `${raw.tool} has no flag "${flag}"${RESERVED_FLAGS.has(flag) ? ' that a step may set' : ''}; it has: ${Object.keys(flagInfo).filter((f) => !RESERVED_FLAGS.has(f)).join(', ')}`)
      const values = Array.isArray(value) ? value : [value]
      if (values.length > 1 && !info.multiple) fail(offsetOf(where), `--${flag} takes one value`)
      for (const v of values) {
        const filled = fill(v, where)
        if (info.type === 'boolean') {
          if (filled !== 'true' && filled !== 'false') fail(offsetOf(where), `--${flag} is true or false, not ${filled}`)
          if (filled === 'true') argv.push(`--${flag}`)
          continue
        }
        if (info.options && !info.options.includes(filled)) fail(offsetOf(where), `--${flag} is one of ${info.options.join(', ')}, not ${filled}`)
        argv.push(`--${flag}`, filled)
      }
    }
    let duration: number | undefined
    if (raw.duration !== undefined) {
      const text = fill(raw.duration, [...path, 'duration'])
      duration = Number(text)
      if (!Number.isFinite(duration) || duration <= 0) fail(offsetOf([...path, 'duration']), `duration is a number of seconds above 0, not ${text}`)
      argv.push('--duration', String(duration))
    }
    const command = raw.command?.map((a, i) => fill(a, [...path, 'command', i]))
    let heatmap: string | undefined
    if (raw.heatmap !== undefined) {
      heatmap = fill(raw.heatmap, [...path, 'heatmap'])
      if (tool!.output !== 'histograms')
        fail(offsetOf([...path, 'heatmap']), `heatmap: is for tools whose output is log2 histograms; ${raw.tool} gives ${tool!.output}`)
      if (heatmap === '') fail(offsetOf([...path, 'heatmap']), 'heatmap: takes a file name')
      argv.push('--heatmap', heatmap)
    }
    if (duration === undefined && !command) fail(offsetOf(path), `step "${name}" needs a duration (or a command to trace until it exits)`)

    const kind: OutputKind = tool!.output
    const checks = (raw.checks ?? []).map((check, i): Check => {
      const where = [...path, 'checks', i, ...(typeof check === 'string' ? [] : ['expect'])]
      const expect = fill(typeof check === 'string' ? check : check.expect, where)
      try {
        const expression = parseExpression(expect)
        checkExpression(expression, expect, kind)
        const object = typeof check === 'string' ? undefined : check
        const name = object?.name === undefined ? expect : fill(object.name, [...path, 'checks', i, 'name'])
        return {expect, name, severity: object?.severity ?? 'fail', expression}
      } catch (error) {
        if (!(error instanceof ExpressionError)) throw error
        // The column inside the expression, from where its text starts (after a quote, if any).
        const node = nodeAt(where)
        const start = node?.range?.[0] ?? offsetOf(where)
        const quoted = /^["']/.test(text.slice(start, start + 1)) ? 1 : 0
        return fail(start + quoted + error.column - 1, `${error.message} in "${expect}"`)
      }
    })
    return {name, tool: raw.tool, argv, duration, command, heatmap, checks}
  }

  const entries = data.steps.map((entry, i) =>
    'parallel' in entry ? entry.parallel.map((s, j) => step(s, ['steps', i, 'parallel', j])) : [step(entry, ['steps', i])],
  )
  return {name: data.name, description: data.description ?? '', source, variables, entries}
}

interface RawStep {
  name?: string
  tool: string
  duration?: number | string
  flags?: Record<string, string | number | boolean | (string | number)[]>
  args?: string[]
  command?: string[]
  heatmap?: string
  checks?: (string | {expect: string; severity?: 'fail' | 'warn'; name?: string})[]
}

interface RawRunbook {
  name: string
  description?: string
  variables?: Record<string, string | number | boolean>
  steps: (RawStep | {parallel: RawStep[]})[]
}
