import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {KINDS} from '../../src/result/kinds/index.js'
import {schemaFiles} from '../../src/result/schema.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

describe('the result schemas', () => {
  it.for(Object.keys(schemaFiles()))('%s is what the output kinds generate (npm run build:schema)', (file) => {
    expect(readFileSync(path.join(ROOT, file), 'utf8')).toBe(schemaFiles()[file])
  })

  it('has a definition for every kind', () => {
    const schema = JSON.parse(schemaFiles()['schema/result.schema.json'])
    expect(Object.keys(schema.definitions)).toEqual(expect.arrayContaining(Object.keys(KINDS)))
  })
})
