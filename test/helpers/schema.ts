import {readFileSync} from 'node:fs'

import {Ajv} from 'ajv'
import ajvFormats from 'ajv-formats'

const ajv = new Ajv({allErrors: true, allowUnionTypes: true})
// ajv-formats is CommonJS whose exports are the plugin itself, with itself as `default` too.
ajvFormats.default(ajv)

const validators = {
  capabilities: ajv.compile(JSON.parse(readFileSync(new URL('../../schema/capabilities.schema.json', import.meta.url), 'utf8'))),
  result: ajv.compile(JSON.parse(readFileSync(new URL('../../schema/result.schema.json', import.meta.url), 'utf8'))),
  /** A line of a rows tool's --json output (NDJSON). */
  resultStream: ajv.compile(JSON.parse(readFileSync(new URL('../../schema/result-stream.schema.json', import.meta.url), 'utf8'))),
}

/** Why `data` does not match the committed schema (schema/NAME.schema.json); empty when it does. */
export function schemaErrors(name: keyof typeof validators, data: unknown): string {
  const validate = validators[name]
  return validate(data) ? '' : ajv.errorsText(validate.errors)
}
