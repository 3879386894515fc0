import {existsSync, readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {CAPABILITIES} from '../../src/probe/table/index.js'
import {packageRoot} from '../../src/system/paths.js'
import {TOOLS} from '../../tools/index.js'

const KINDS = ['counts', 'histograms', 'profile', 'rows', 'table', 'stacks']
const capabilityNames = new Set(CAPABILITIES.map((c) => c.name))
const toolFolders = readdirSync(path.join(packageRoot, 'tools'), {withFileTypes: true}).filter((d) => d.isDirectory()).map((d) => d.name)

// One tool is one name everywhere: its folder, its module's name, its command, its BPF C.
describe('the tool modules', () => {
  it('are one per folder of tools/, listed once in tools/index.ts', () => {
    expect(TOOLS.map((t) => t.name).sort()).toEqual([...toolFolders].sort())
    expect(new Set(TOOLS.map((t) => t.name)).size).toBe(TOOLS.length)
  })

  for (const tool of TOOLS) {
    describe(tool.name, () => {
      it('has a command that is made from its module', () => {
        const command = path.join(packageRoot, 'commands', `${tool.name}.ts`)
        expect(existsSync(command), command).toBe(true)
        expect(readFileSync(command, 'utf8')).toContain(`toolCommand(${tool.name})`)
      })

      it('names its candidates once each, with capabilities the probe table has', () => {
        expect(new Set(tool.candidates.map((c) => c.id)).size).toBe(tool.candidates.length)
        for (const candidate of tool.candidates) {
          expect(candidate.id.startsWith(`${candidate.backend}-`), candidate.id).toBe(true)
          for (const need of [...candidate.needs, ...(candidate.uses ?? [])]) expect(capabilityNames.has(need), `${candidate.id} needs ${need}`).toBe(true)
        }
      })

      it('gives an output kind, help prose and examples', () => {
        expect(KINDS).toContain(tool.output)
        expect(tool.help.measures.length).toBeGreaterThan(40)
        expect(tool.help.examples.length).toBeGreaterThan(0)
      })

      it("loads each candidate's runner", async () => {
        for (const candidate of tool.candidates) expect(typeof (await candidate.runner()).start, candidate.id).toBe('function')
      })

      it('keeps its BPF C beside it, named after it', () => {
        const folder = path.join(packageRoot, 'tools', tool.name)
        for (const file of readdirSync(folder).filter((f) => f.endsWith('.bpf.c') || f.endsWith('.h')))
          expect(file.startsWith(`${tool.name}.`), `${tool.name}/${file}`).toBe(true)
      })
    })
  }
})
