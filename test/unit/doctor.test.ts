import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import type {SetupCheck} from '../../src/setup-check.js'

// `diag --version` and `diag doctor` read the build and the programs on PATH, not the kernel.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = path.join(ROOT, 'bin', 'run.js')
const run = (args: string[], env: Record<string, string> = {}) => execa(process.execPath, [BIN, ...args], {cwd: '/', env, reject: false})

describe('diag --version', () => {
  it("names diag's version, the libbpf it runs with and the state of the build", async () => {
    const {version} = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}
    const result = await run(['--version'])
    expect(result.exitCode).toBe(0)
    const [first, libbpf, objects] = result.stdout.split('\n')
    expect(first).toBe(`diag ${version} (node ${process.version}, ${process.platform}-${process.arch})`)
    expect(libbpf).toMatch(/^libbpf \d+\.\d+(\.\d+)? \(the system's, through the addon .*diag_bpf\.node\)$/)
    expect(objects).toMatch(/^BPF objects: (\d+) of \1 built in /)
    // Every BPF C file counts, diag's own and each tool's (tools/<tool>/*.bpf.c).
    const tools = readdirSync(path.join(ROOT, 'tools'), {withFileTypes: true}).filter((d) => d.isDirectory())
    const sources = [...readdirSync(path.join(ROOT, 'bpf')), ...tools.flatMap((t) => readdirSync(path.join(ROOT, 'tools', t.name)))]
    expect(Number(/^BPF objects: (\d+)/.exec(objects)![1])).toBe(sources.filter((f) => f.endsWith('.bpf.c')).length)
  })
})

describe('diag doctor', () => {
  it('exits 0 and lists every check when nothing is missing, or 7 naming the fix of each missing one', async () => {
    const result = await run(['doctor', '--json'])
    const report = JSON.parse(result.stdout) as {checks: SetupCheck[]; missing: number}
    expect(report.checks.map((c) => c.name)).toEqual(['addon', 'bpf-objects', 'clang', 'bpftool', 'perf', 'tracefs'])
    expect(result.exitCode).toBe(report.missing === 0 ? 0 : EXIT.setupIncomplete)
    for (const check of report.checks) expect(check.fix === null).toBe(check.ok)
  })

  it('names the Debian package of each program missing from PATH, and exits 7', async () => {
    // An empty PATH: clang, bpftool and perf are not found, whatever this host has.
    const result = await run(['doctor'], {PATH: '/nonexistent'})
    expect(result.exitCode).toBe(EXIT.setupIncomplete)
    expect(result.stdout).toMatch(/^- +clang +clang --version not found/m)
    expect(result.stdout).toMatch(/clang: +apt-get install -y clang llvm$/m)
    expect(result.stdout).toMatch(/bpftool: +apt-get install -y bpftool$/m)
    expect(result.stdout).toMatch(/perf: +apt-get install -y linux-perf$/m)
  })
})
