#!/usr/bin/env node
// Writes schema/result.schema.json and schema/result-stream.schema.json from the output kinds
// (src/result/kinds/, through src/result/schema.ts as compiled into dist/). `npm run build:schema`;
// test/unit/result-kinds.test.ts fails when the committed files differ from what this writes.
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const {schemaFiles} = await import(path.join(root, 'dist', 'src', 'result', 'schema.js'))
for (const [file, text] of Object.entries(schemaFiles())) writeFileSync(path.join(root, file), text)
