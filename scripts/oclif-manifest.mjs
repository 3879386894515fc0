// Writes oclif.manifest.json from the built commands, so that oclif starts without importing
// every command module to learn its flags (oclif's own `oclif manifest` does the same, but its
// package pulls in a publishing toolchain diag does not need). Run after `tsc`, by `npm run build:ts`.
import {rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {Config} from '@oclif/core'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const file = path.join(root, 'oclif.manifest.json')
// oclif reads an existing manifest instead of the commands: start from none.
rmSync(file, {force: true})
const config = await Config.load({root})
const manifest = config.rootPlugin.manifest
writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`)
console.log(`oclif.manifest.json: ${Object.keys(manifest.commands).length} commands`)
