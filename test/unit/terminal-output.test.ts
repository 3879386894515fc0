import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {diag} from '../helpers/cli.js'
import {fakeResult} from '../helpers/results.js'
import {schemaErrors} from '../helpers/schema.js'

// The text diag prints, as a terminal shows it: `diag show` renders saved results through the same
// code a tool's run does, in a real pseudo-terminal (script(1)) of a set width.
const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')
const ANSI = /\u001B\[[0-9;]*m/g
const visible = (line: string) => line.replace(ANSI, '')

const buckets = [3, 40, 180, 950, 2400, 1800, 420, 60, 12, 2].map((count, i) => ({low: i === 0 ? 0 : 2 ** i, high: 2 ** (i + 1) - 1, count}))
const attach = {name: 'bpf' as const, candidate: 'bpf-tp-btf', method: 'BPF programs', attach: 'tp_btf sched_wakeup, sched_switch'}
const histogram = fakeResult(
  'runqlat',
  {kind: 'histograms', unit: 'usecs', labelKey: null, histograms: [{label: null, buckets, count: buckets.reduce((s, b) => s + b.count, 0)}]},
  {backend: attach},
)
const counts = fakeResult(
  'syscount',
  {kind: 'counts', key: 'syscall', rows: [{key: 'futex', count: 91_233}, {key: 'read', count: 40_112}, {key: 'epoll_wait', count: 1200}]},
  {backend: attach},
)

let dir: string
const saved = (name: string) => path.join(dir, `${name}.json`)

/** Runs diag in a pseudo-terminal of the given width, with the given environment. */
async function inTerminal(columns: number, args: string[], env: Record<string, string> = {}): Promise<string[]> {
  const command = `stty cols ${columns} rows 50; ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')}`
  const {stdout} = await execa('script', ['-qec', command, '/dev/null'], {env: {TERM: 'xterm-256color', ...env}, extendEnv: true})
  return stdout.replaceAll('\r', '').split('\n')
}

const hasScript = (await execa('script', ['--version'], {reject: false})).exitCode === 0

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'diag-terminal-'))
  for (const [name, result] of Object.entries({histogram, counts})) {
    expect(schemaErrors('result', result)).toBe('')
    writeFileSync(saved(name), JSON.stringify(result))
  }
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe.skipIf(!hasScript)('text output in a pseudo-terminal (script from util-linux)', () => {
  for (const columns of [80, 200]) {
    it(`fills ${columns} columns with coloured bars and marks the percentiles`, async () => {
      const lines = await inTerminal(columns, ['show', saved('histogram')], {NO_COLOR: ''})
      const rows = lines.filter((l) => visible(l).includes(' -> '))
      expect(rows).toHaveLength(buckets.length)
      const widths = rows.map((l) => visible(l).length)
      expect(Math.max(...widths)).toBeLessThanOrEqual(columns)
      expect(Math.max(...widths)).toBeGreaterThan(columns - 8)
      expect(lines.join('\n')).toMatch(ANSI)
      // 5867 events, counted up to each bucket: 3573 by 16 -> 31 (the median, 2934th, is in it),
      // 5373 by 32 -> 63 (p90, the 5281st) and 5853 by 128 -> 255 (p99, the 5809th).
      expect(visible(rows[4])).toMatch(/\| p50$/)
      expect(visible(rows[5])).toMatch(/\| p90$/)
      expect(visible(rows[7])).toMatch(/\| p99$/)
      expect(rows.filter((l) => /p\d\d$/.test(visible(l)))).toHaveLength(3)
      expect(rows[4]).toMatch(/^\u001B\[1;33m/)
      const table = (await inTerminal(columns, ['show', saved('counts')])).filter((l) => /^(futex|read|epoll)/.test(visible(l)))
      expect(Math.max(...table.map((l) => visible(l).length))).toBe(columns - 1)
    })
  }

  it("colours the capabilities table's answers, and leaves it plain with NO_COLOR or piped", async () => {
    // --host-root / reads the host's files and runs no probe: nothing here touches the kernel.
    const coloured = (await inTerminal(120, ['capabilities', '--host-root', '/'], {NO_COLOR: ''})).join('\n')
    expect(coloured).toMatch(/^ {2}\S+ +\u001B\[32m\+ yes\u001B\[0m {2}/m)
    expect(coloured).toContain('\u001B[1mBPF\u001B[0m')
    const noColor = (await inTerminal(120, ['capabilities', '--host-root', '/'], {NO_COLOR: '1'})).join('\n')
    const piped = await diag(['capabilities', '--host-root', '/'])
    for (const text of [noColor, piped.stdout]) {
      expect(text).not.toMatch(/\u001B/)
      expect(text).toMatch(/^ {2}\S+ +\+ yes {2}/m)
    }
  })

  it('with NO_COLOR, uses the width but no colour', async () => {
    const lines = await inTerminal(200, ['show', saved('histogram')], {NO_COLOR: '1'})
    expect(lines.join('\n')).not.toMatch(ANSI)
    expect(Math.max(...lines.map((l) => l.length))).toBeGreaterThan(192)
    expect(lines.join('\n')).toContain('| p50')
  })

  it('--json never carries colour, even on a terminal with an oclif colour theme', async () => {
    mkdirSync(path.join(dir, 'config', 'diag'), {recursive: true})
    writeFileSync(path.join(dir, 'config', 'diag', 'theme.json'), JSON.stringify({json: {key: 'red', string: 'green', brace: 'blue'}}))
    const lines = await inTerminal(120, ['show', saved('histogram'), '--json'], {XDG_CONFIG_HOME: path.join(dir, 'config')})
    const text = lines.join('\n')
    expect(text).not.toMatch(/\u001B/)
    expect(JSON.parse(text)).toEqual(histogram)
  })
})

describe('text output into a pipe', () => {
  it('is plain text in the fixed layout, whatever the terminal around', async () => {
    const run = await diag(['show', saved('histogram')])
    expect(run.exitCode).toBe(0)
    expect(run.stdout).not.toMatch(/\u001B/)
    const rows = run.stdout.split('\n').filter((l) => l.includes(' -> '))
    // bcc's layout: a 40-column bar between bars, no percentile marks.
    expect(rows.map((l) => l.length)).toEqual(rows.map(() => rows[0].length))
    expect(rows[4]).toMatch(/\|\*{40}\|$/)
    expect(rows.join('\n')).not.toContain('p50')
    // Under the histogram, the percentiles' bucket bounds (the same in a terminal).
    expect(run.stdout.split('\n')).toContain('p50 <= 31  p90 <= 63  p99 <= 255  max <= 1023 usecs (log2 buckets: up to 2x)')
  })

  it('refuses a file that is not a saved result, as bad input', async () => {
    writeFileSync(saved('other'), JSON.stringify({schema: 'diag/capabilities'}))
    const run = await diag(['show', saved('other')])
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/not a diag result/)
  })
})
