// Bundles the built JavaScript (tsc's dist/) with its dependencies into dist/bundle/ with esbuild:
// Node.js then loads a few files at start instead of about 500 modules (oclif's and execa's
// CommonJS files above all), which was most of diag's start-up time. One entry per command, as
// oclif's manifest names them (package.json oclif.commands is dist/bundle/commands), so a command
// loads only what it imports; code that several share goes to dist/bundle/chunks/, and what a
// command imports only when it runs (each tool's runners) stays in chunks of its own.
// bin/run.js starts dist/bundle/cli.js, whose oclif is the one the commands extend. Run after tsc,
// by `npm run build:ts`.
import {createHash} from 'node:crypto'
import {readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import * as esbuild from 'esbuild'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const dist = path.join(root, 'dist')
const out = path.join(dist, 'bundle')

const commandFiles = readdirSync(path.join(dist, 'commands'), {recursive: true})
  .filter((f) => f.endsWith('.js'))
  .map((f) => ({in: path.join(dist, 'commands', f), out: `commands/${f.slice(0, -3)}`}))

rmSync(out, {recursive: true, force: true})
const result = await esbuild.build({
  entryPoints: [{in: path.join(dist, 'src/cli.js'), out: 'cli'}, ...commandFiles],
  outdir: out,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node18.20',
  // oclif requires the TypeScript compiler only to run sources in development, which diag turns off (src/cli.ts).
  external: ['typescript'],
  // oclif and its dependencies are CommonJS and call require(): give the ESM bundle one.
  banner: {js: "import {createRequire as __diagCreateRequire} from 'node:module'; const require = __diagCreateRequire(import.meta.url);"},
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
})
// What each output holds: test/unit/start-up.test.ts reads it to keep heavy modules off the start.
writeFileSync(path.join(out, 'meta.json'), JSON.stringify(result.metafile))
// The build's identity, a hash of all its code: the probe cache's key takes it (src/probe/cache.ts)
// instead of looking at each of the bundle's files in every run.
const code = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).sort()
const hash = createHash('sha256')
for (const file of code) hash.update(file).update(readFileSync(path.resolve(file)))
writeFileSync(path.join(out, 'build-id'), `${hash.digest('hex').slice(0, 32)}\n`)
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0)
console.log(`dist/bundle: ${commandFiles.length} commands, ${Object.keys(result.metafile.outputs).length} files, ${(bytes / 1048576).toFixed(1)} MiB`)
