import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'

import {TOOLS} from '../../tools/index.js'
import {diag} from '../helpers/cli.js'

// What diag loads before a command runs, read from the esbuild bundle's metafile
// (dist/bundle/meta.json, written by scripts/bundle-js.mjs during `npm run build:ts`): no kernel.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BUNDLE = path.join(ROOT, 'dist', 'bundle')

interface Metafile {
  outputs: Record<string, {bytes: number; inputs: Record<string, unknown>; imports: {path: string; kind: string; external?: boolean}[]}>
}
const meta = JSON.parse(readFileSync(path.join(BUNDLE, 'meta.json'), 'utf8')) as Metafile
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {relativePath: string[]}>}

/** The bundle's files that load before `command` runs: its entry and the start, and what they import statically. */
function loadedAtStart(command: string): string[] {
  const rel = (p: string) => path.relative(ROOT, p)
  const seen = new Set<string>()
  const queue = [rel(path.join(BUNDLE, 'cli.js')), rel(path.join(ROOT, ...manifest.commands[command].relativePath))]
  while (queue.length > 0) {
    const output = queue.pop()!
    if (seen.has(output)) continue
    seen.add(output)
    for (const i of meta.outputs[output].imports) if (i.kind === 'import-statement' && !i.external) queue.push(i.path)
  }
  return [...seen]
}

/** The npm packages whose code those files hold. */
function packagesAtStart(command: string): Set<string> {
  const packages = new Set<string>()
  for (const output of loadedAtStart(command))
    for (const input of Object.keys(meta.outputs[output].inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)
      if (m) packages.add(m[1])
    }
  return packages
}

// Heavy packages that only some commands' runs need: execa (spawning perf or a traced command),
// yaml and ajv (runbooks), listr2 (progress of runbooks and fleets).
const HEAVY = ['execa', 'yaml', 'ajv', 'listr2']

describe('start-up', () => {
  it('every command oclif knows is an entry of the bundle', () => {
    for (const [id, command] of Object.entries(manifest.commands)) {
      expect(command.relativePath.slice(0, 3), id).toEqual(['dist', 'bundle', 'commands'])
      expect(meta.outputs[path.join(...command.relativePath)], id).toBeDefined()
    }
  })

  it('capabilities, version and every tool load none of the heavy packages before they run', () => {
    for (const command of ['capabilities', 'version', ...TOOLS.map((t) => t.name)]) {
      expect([...packagesAtStart(command)].filter((p) => HEAVY.includes(p)), command).toEqual([])
    }
  })

  it('a tool loads its runners only when one is chosen, not at start', () => {
    const start = loadedAtStart('syscount').flatMap((output) => Object.keys(meta.outputs[output].inputs))
    expect(start).toContain('dist/tools/syscount/tool.js')
    expect(start.filter((input) => /^dist\/tools\/syscount\/(bpf|ftrace|perf)\.js$/.test(input))).toEqual([])
  })

  it('runs from the bundle: bin/run.js starts dist/bundle/cli.js', async () => {
    expect(readFileSync(path.join(ROOT, 'bin/run.js'), 'utf8')).toMatch(/from '\.\.\/dist\/bundle\/cli\.js'/)
    const run = await diag(['--version'])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).toMatch(/^diag \d+\.\d+\.\d+/)
  })

  it('names its build with an id the probe cache keys on, a hash of its code', () => {
    const id = readFileSync(path.join(BUNDLE, 'build-id'), 'utf8').trim()
    expect(id).toMatch(/^[0-9a-f]{32}$/)
    // The hash of the code the metafile lists, as the build makes it: a constant id would not do.
    const meta = JSON.parse(readFileSync(path.join(BUNDLE, 'meta.json'), 'utf8')) as {outputs: Record<string, unknown>}
    const hash = createHash('sha256')
    for (const file of Object.keys(meta.outputs).filter((f) => f.endsWith('.js')).sort()) hash.update(file).update(readFileSync(path.join(ROOT, file)))
    expect(id).toBe(hash.digest('hex').slice(0, 32))
  })
})
