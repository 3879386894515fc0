import {KINDS} from './kinds/index.js'
import type {JsonSchema} from './kinds/kind.js'
import {ROW_VALUE_SCHEMA} from './kinds/rows.js'
import {RESULT_SCHEMA_VERSION} from './model.js'

/**
 * schema/result.schema.json and schema/result-stream.schema.json, built from the output kinds'
 * fragments (src/result/kinds/) and the envelope every result shares. scripts/result-schema.mjs
 * writes them (`npm run build:schema`); a unit test fails when the committed files differ.
 */

function envelope(): {required: string[]; properties: Record<string, JsonSchema>} {
  return {
    required: ['schema', 'schemaVersion', 'tool', 'backend', 'route', 'kernel', 'startedAt', 'seconds', 'command', 'lost', 'intervals'],
    properties: {
      schema: {const: 'diag/result'},
      schemaVersion: {const: RESULT_SCHEMA_VERSION},
      tool: {type: 'string'},
      backend: {
        type: 'object',
        required: ['name', 'candidate', 'method', 'attach'],
        additionalProperties: false,
        properties: {
          name: {enum: ['bpf', 'ftrace', 'perf']},
          candidate: {type: 'string'},
          method: {type: 'string'},
          attach: {type: 'string', description: 'what was attached, in words'},
          jit: {
            type: ['boolean', 'null'],
            description:
              'BPF backends only: whether the kernel JIT-compiles the programs (net.core.bpf_jit_enable); false: they ran in the interpreter; null: it could not be read',
          },
        },
      },
      route: {
        type: 'object',
        required: ['why', 'passedOver'],
        additionalProperties: false,
        properties: {
          why: {type: 'string'},
          passedOver: {
            type: 'array',
            items: {
              type: 'object',
              required: ['candidate', 'stage', 'reasons'],
              additionalProperties: false,
              properties: {
                candidate: {type: 'string'},
                stage: {
                  enum: ['routing', 'start'],
                  description:
                    'routing: ruled out by the probe, the options or --backend; start: chosen, failed while loading or attaching (before counting anything), undone, and the next usable candidate started',
                },
                reasons: {type: 'array', items: {type: 'string'}},
              },
            },
          },
        },
      },
      kernel: {type: ['string', 'null']},
      startedAt: {type: 'string', format: 'date-time'},
      seconds: {type: 'number', minimum: 0},
      command: {
        oneOf: [
          {type: 'null'},
          {
            type: 'object',
            required: ['argv', 'exitCode'],
            additionalProperties: false,
            properties: {argv: {type: 'array', items: {type: 'string'}}, exitCode: {type: ['integer', 'null']}},
          },
        ],
      },
      lost: {type: ['integer', 'null'], minimum: 0, description: 'events the backend dropped; null when it cannot tell'},
      intervals: {
        type: 'array',
        items: {
          type: 'object',
          required: ['time', 'seconds', 'data'],
          additionalProperties: false,
          properties: {
            time: {type: 'string', format: 'date-time'},
            seconds: {type: 'number', minimum: 0},
            data: {oneOf: Object.keys(KINDS).map((kind) => ({$ref: `#/definitions/${kind}`}))},
          },
        },
      },
    },
  }
}

/** Every kind's fragment, and the definitions they share, by name. */
function definitions(): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {}
  for (const kind of Object.values(KINDS)) {
    out[kind.kind] = kind.schema
    for (const [name, schema] of Object.entries(kind.definitions ?? {})) {
      if (name in out && JSON.stringify(out[name]) !== JSON.stringify(schema)) throw new Error(`two kinds define ${name} differently`)
      out[name] = schema
    }
  }
  return out
}

/** What every tool prints with --json (a rows tool: its summary line without "type" and rowCount). */
export function resultSchema(): JsonSchema {
  const {required, properties} = envelope()
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `https://diag.invalid/schema/result-${RESULT_SCHEMA_VERSION}.json`,
    title: `diag tool result, schema version ${RESULT_SCHEMA_VERSION}`,
    description: 'What every tracing tool prints with --json, whatever backend ran. A new field may appear within version 1; renaming or removing one bumps schemaVersion.',
    type: 'object',
    required,
    additionalProperties: false,
    properties,
    definitions: definitions(),
  }
}

/** Each line of a rows tool's --json output (NDJSON): a row as it happened, or the last line, the summary. */
export function streamSchema(): JsonSchema {
  const {required, properties} = envelope()
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `https://diag.invalid/schema/result-stream-${RESULT_SCHEMA_VERSION}.json`,
    title: `a line of a rows tool's --json output, schema version ${RESULT_SCHEMA_VERSION}`,
    description:
      'A rows tool (one row per event) prints one JSON object per line: {"type": "row", ...} for each row as it happens, then one {"type": "summary", ...}: the result, its intervals holding no rows, with rowCount.',
    oneOf: [{$ref: '#/definitions/rowLine'}, {$ref: '#/definitions/summaryLine'}],
    definitions: {
      rowLine: {
        type: 'object',
        required: ['type'],
        properties: {type: {const: 'row'}},
        additionalProperties: ROW_VALUE_SCHEMA,
      },
      summaryLine: {
        type: 'object',
        required: ['type', ...required, 'rowCount'],
        additionalProperties: false,
        properties: {type: {const: 'summary'}, ...properties, rowCount: {type: 'integer', minimum: 0, description: 'rows printed before this line'}},
      },
      ...definitions(),
    },
  }
}

const WIDTH = 150

/** JSON on one line, with a space after each comma and colon. */
function inline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${inline(v)}`)
      .join(', ')}}`
  return JSON.stringify(value)
}

/** JSON as the committed schemas are laid out: a value on one line where it fits, indented otherwise. */
export function formatJson(value: unknown, indent = '', lead = 0): string {
  const flat = inline(value)
  if (value === null || typeof value !== 'object' || indent.length + lead + flat.length <= WIDTH) return flat
  const inner = `${indent}  `
  const items = Array.isArray(value)
    ? value.map((v) => inner + formatJson(v, inner))
    : Object.entries(value).map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner, JSON.stringify(k).length + 2)}`)
  return `${Array.isArray(value) ? '[' : '{'}\n${items.join(',\n')}\n${indent}${Array.isArray(value) ? ']' : '}'}`
}

/** The committed files and their text, by path from the repository's root. */
export function schemaFiles(): Record<string, string> {
  return {
    'schema/result.schema.json': `${formatJson(resultSchema())}\n`,
    'schema/result-stream.schema.json': `${formatJson(streamSchema())}\n`,
  }
}
