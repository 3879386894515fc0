import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import {COLOURS, RAMP, bucketIndex, heatMapOf, levelColour, levelOf, levelRange, renderHeatMapSvg, renderHeatMapText, rowOf} from '../../src/render/heatmap.js'
import {writeHeatMaps} from '../../src/render/heatmap-output.js'
import {runTitleOf, runTitleText} from '../../src/render/picture.js'
import {PLAIN} from '../../src/render/style.js'
import {type FlagInfo, parseRunbook} from '../../src/runbook/file.js'
import {locateRunbook} from '../../src/runbook/library.js'
import {markdownReport} from '../../src/runbook/report.js'
import type {RunbookReport} from '../../src/runbook/run.js'
import type {Histogram, Histograms} from '../../src/result/kinds/histograms.js'
import type {Interval, ToolResult} from '../../src/result/model.js'
import {heatmapFlags} from '../../src/tool-flags.js'
import {toolCommand} from '../../src/tool-command.js'
import {TOOLS} from '../../tools/index.js'
import {BIN, diag} from '../helpers/cli.js'
import {fakeResult} from '../helpers/results.js'
import {schemaErrors} from '../helpers/schema.js'

const TITLE = {tool: 'biolatency', host: 'db1', kernel: '6.1.0-18-amd64', backend: 'bpf-tracepoint (bpf)', seconds: 3}

/**
 * A log2 histogram from counts by bucket index: {3: 5} is 5 events in [8, 15]. The bounds are the
 * kernel tools' (bucket 0 holds 0 and 1), written out here rather than taken from rowOf under test.
 */
function histogram(label: string | null, counts: Record<number, number>): Histogram {
  const buckets = Object.entries(counts).map(([i, count]) => ({low: i === '0' ? 0 : 2 ** Number(i), high: 2 ** (Number(i) + 1) - 1, count}))
  buckets.sort((a, b) => a.low - b.low)
  return {label, buckets, count: buckets.reduce((s, b) => s + b.count, 0)}
}

function run(columns: Histogram[][], labelKey: string | null = null): ToolResult {
  const intervals: Interval[] = columns.map((histograms, c) => ({
    time: new Date(Date.UTC(2026, 10, 27, 6, 0, c + 1)).toISOString(),
    seconds: 1,
    data: {kind: 'histograms', unit: 'usecs', labelKey, histograms} satisfies Histograms,
  }))
  return {...fakeResult('biolatency', intervals[0]?.data ?? {kind: 'histograms', unit: 'usecs', labelKey, histograms: []}), intervals, seconds: columns.length}
}

const count = (svg: string, pattern: RegExp) => [...svg.matchAll(pattern)].length

describe('heat map model', () => {
  it('maps each log2 bucket to its row: 0 and 1 in row 0, [2^i, 2^(i+1) - 1] in row i', () => {
    expect(bucketIndex(0)).toBe(0)
    expect(bucketIndex(1)).toBe(0)
    expect(bucketIndex(2)).toBe(1)
    expect(bucketIndex(8)).toBe(3)
    expect(bucketIndex(2 ** 30)).toBe(30)
    expect(rowOf(0)).toEqual({index: 0, low: 0, high: 1})
    expect(rowOf(4)).toEqual({index: 4, low: 16, high: 31})
  })

  it('rows run from the lowest bucket with events to the highest, gaps included; a column per interval', () => {
    const map = heatMapOf(run([[histogram(null, {3: 5, 4: 0})], [histogram(null, {6: 2})], [histogram(null, {4: 7, 3: 1})]]))
    expect(map.rows.map((r) => r.low)).toEqual([8, 16, 32, 64])
    expect(map.columns.map((c) => c.end)).toEqual([1, 2, 3])
    expect(map.panels).toHaveLength(1)
    expect(map.panels[0].counts).toEqual([
      [5, 0, 0, 0],
      [0, 0, 0, 2],
      [1, 7, 0, 0],
    ])
    expect(map.panels[0].total).toBe(15)
    expect(map.max).toBe(7)
  })

  it('an interval with no histogram, or a label missing from it, is an empty column', () => {
    const map = heatMapOf(run([[histogram('sda', {2: 3}), histogram('sdb', {2: 1})], [], [histogram('sdb', {5: 4})]], 'disk'))
    expect(map.panels.map((p) => p.label)).toEqual(['sda', 'sdb'])
    expect(map.panels[0].counts).toEqual([[3, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    expect(map.panels[1].counts).toEqual([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 4]])
  })

  it('a run with no events has no rows, its columns kept; other kinds are refused', () => {
    const map = heatMapOf(run([[], [histogram(null, {})]]))
    expect(map.rows).toEqual([])
    expect(map.columns).toHaveLength(2)
    expect(map.max).toBe(0)
    expect(() => heatMapOf(fakeResult('syscount', {kind: 'counts', key: 'syscall', rows: []}))).toThrow(/counts, not log2 histograms/)
  })
})

describe('colour scale', () => {
  it('nine levels by log(count) as a share of log(largest cell); 0 only for no events, one event the palest, the largest the top', () => {
    expect(levelOf(0, 100)).toBe(0)
    expect(levelOf(1, 100)).toBe(1)
    expect(levelOf(2, 100)).toBe(2)
    expect(levelOf(10, 100)).toBe(5)
    expect(levelOf(60, 100)).toBe(9)
    expect(levelOf(59, 100)).toBe(8)
    expect(levelOf(100, 100)).toBe(9)
    expect(levelOf(1, 1)).toBe(9)
    expect(levelOf(1, 1_000_000)).toBe(1)
    expect(levelOf(0, 0)).toBe(0)
  })

  it('the legend ranges of a known maximum: ceil(9 * log(count) / log(max)) worked by hand', () => {
    // For max 100 the level is ceil(4.5 * log10(count)): 36 is 7.003 (level 8), 60 is 8.002 (level 9).
    expect(Array.from({length: 9}, (_, i) => levelRange(i + 1, 100))).toEqual([
      {low: 1, high: 1},
      {low: 2, high: 2},
      {low: 3, high: 4},
      {low: 5, high: 7},
      {low: 8, high: 12},
      {low: 13, high: 21},
      {low: 22, high: 35},
      {low: 36, high: 59},
      {low: 60, high: 100},
    ])
    // Few events: levels no count reaches have no range (for max 10, 2 is level 2.7 -> 3).
    expect(Array.from({length: 9}, (_, i) => levelRange(i + 1, 10))).toEqual([
      {low: 1, high: 1},
      undefined,
      {low: 2, high: 2},
      undefined,
      {low: 3, high: 3},
      {low: 4, high: 4},
      {low: 5, high: 5},
      {low: 6, high: 7},
      {low: 8, high: 10},
    ])
    expect(levelRange(0, 100)).toBeUndefined()
    expect(levelRange(10, 100)).toBeUndefined()
  })

  it('the legend ranges cover every count from 1 to the maximum exactly once, and agree with levelOf', () => {
    for (const max of [1, 5, 9, 10, 100, 12_345]) {
      const covered: number[] = []
      for (let level = 1; level <= 9; level++) {
        const range = levelRange(level, max)
        if (!range) continue
        for (let n = range.low; n <= range.high; n++) {
          covered.push(n)
          if (max < 200 || n === range.low || n === range.high) expect(levelOf(n, max)).toBe(level)
        }
      }
      expect(covered).toEqual(Array.from({length: max}, (_, i) => i + 1))
    }
  })

  it("colours get darker level by level (ColorBrewer's YlOrRd), an empty cell light grey; the ramp has a character per level", () => {
    expect([0, 1, 5, 9].map(levelColour)).toEqual(['#f4f4f4', '#ffffcc', '#fd8d3c', '#800026'])
    const luminance = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).reduce((a, b) => a + b)
    const shades = COLOURS.map(luminance)
    for (let i = 1; i < shades.length; i++) expect(shades[i]).toBeLessThan(shades[i - 1])
    expect(RAMP).toHaveLength(10)
    expect(RAMP[0]).toBe(' ')
  })
})

describe('heat map SVG', () => {
  const result = run(
    [
      [histogram('sda', {3: 10, 5: 1}), histogram('<b>&"x"</b>', {4: 4})],
      [],
      [histogram('sda', {3: 2})],
    ],
    'disk',
  )
  const svg = renderHeatMapSvg(heatMapOf(result), TITLE)

  it('one panel per label, a cell per interval and bucket, each with its count and colour', () => {
    expect(count(svg, /<g class="panel"/g)).toBe(2)
    expect(svg).toMatch(/data-columns="3" data-rows="3" data-max="10"/)
    // 2 panels x 3 columns x 3 rows (8-15, 16-31, 32-63).
    expect(count(svg, /<rect class="cell"/g)).toBe(18)
    expect(svg).toContain(`data-column="0" data-low="8" data-count="10" x="150.00" y="${120 + 24 + 2 * 16}" width="300.00" height="16" fill="#800026"`)
    expect(svg).toMatch(/data-column="1" data-low="8" data-count="0" [^>]*fill="#f4f4f4"/)
    // 2 of a largest 10: ceil(9 * log 2 / log 10) = ceil(2.7) = level 3.
    expect(svg).toMatch(/data-column="2" data-low="8" data-count="2" [^>]*fill="#fed976"/)
    expect(svg).toContain('<title>disk = sda, 0 s-1 s: 10 events of 8-15 usecs</title>')
  })

  it('has a title naming the run, axes with labels and the unit, and a legend', () => {
    expect(svg).toContain('<text id="title" x="10" y="22">Latency heat map: biolatency on db1, kernel 6.1.0-18-amd64, bpf-tracepoint (bpf), 3 s</text>')
    expect(svg).toContain('latency (usecs, log2)')
    expect(svg).toContain('time since the start (one column per interval)')
    expect(svg).toContain('>16-31</text>')
    expect(svg).toContain('>3 s</text>')
    expect(count(svg, /<rect class="swatch"/g)).toBe(10)
    expect(svg).toContain('>8-10</text>')
    expect(svg).not.toMatch(/<script|href=|url\(/)
  })

  it('escapes labels: a hostile label is text, never markup', () => {
    expect(svg).not.toContain('<b>')
    expect(svg).toContain('data-label="&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"')
    expect(svg).toContain('disk = &lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt; (4 events)')
  })

  it('an empty run is still a picture: its columns, no rows, "no events"', () => {
    const empty = renderHeatMapSvg(heatMapOf(run([[], []])), TITLE)
    expect(empty).toMatch(/data-columns="2" data-rows="0"/)
    expect(empty).toContain('>no events</text>')
    expect(empty).toContain('no events were recorded in 2 intervals')
  })
})

describe("a run's title, shared with the flame graph", () => {
  it('names the tool, the host (or that it was not recorded), the kernel, the candidate and backend, the seconds to one decimal', () => {
    const result = fakeResult('runqlat', {kind: 'histograms', unit: 'usecs', labelKey: null, histograms: []}, {seconds: 2.46})
    expect(runTitleOf(result, 'db1')).toEqual({tool: 'runqlat', host: 'db1', kernel: '6.18.44', backend: 'bpf-tp-btf (bpf)', seconds: 2.46})
    expect(runTitleText(runTitleOf(result, 'db1'))).toBe('runqlat on db1, kernel 6.18.44, bpf-tp-btf (bpf), 2.5 s')
    expect(runTitleText({...runTitleOf(result, null), kernel: null, seconds: 10})).toBe('runqlat on an unrecorded host, kernel unknown, bpf-tp-btf (bpf), 10 s')
  })
})

describe('writeHeatMaps (a tool run and diag show both write through it)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-heatmap-write-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))
  const result = run([[histogram(null, {3: 2})], [histogram(null, {3: 1})]])

  it('writes the SVG file, says so through wrote, and logs the text beside the text output', async () => {
    const file = path.join(dir, 'map.svg')
    const logged: string[] = []
    const wrote: string[] = []
    await writeHeatMaps(result, 'db1', {file, terminal: true}, {json: false, log: (text) => logged.push(text), wrote: (f) => wrote.push(f)})
    expect(readFileSync(file, 'utf8')).toContain('>Latency heat map: biolatency on db1, kernel 6.18.44, bpf-tp-btf (bpf), 2 s</text>')
    expect(wrote).toEqual([file])
    expect(logged).toHaveLength(1)
    expect(logged[0].split('\n').slice(0, 2)).toEqual(['', 'Latency heat map: biolatency on db1, kernel 6.18.44, bpf-tp-btf (bpf), 2 s'])
  })

  it('writes nothing when neither was asked for, and no text without --heatmap-terminal', async () => {
    const logged: string[] = []
    await writeHeatMaps(fakeResult('syscount', {kind: 'counts', key: 'syscall', rows: []} as never), 'db1', {}, {json: false, log: (text) => logged.push(text)})
    const file = path.join(dir, 'only.svg')
    await writeHeatMaps(result, null, {file}, {json: false, log: (text) => logged.push(text)})
    expect(logged).toEqual([])
    expect(readFileSync(file, 'utf8')).toContain('biolatency on an unrecorded host')
  })
})

describe('heat map as text', () => {
  const result = run([[histogram(null, {3: 9, 4: 1})], [histogram(null, {4: 9})], [], [histogram(null, {3: 5})]])
  const map = heatMapOf(result)

  it('without colour: a ramp character per cell, the highest bucket on top, an axis and the scale', () => {
    const lines = renderHeatMapText(map, TITLE, PLAIN)
    expect(lines[0]).toBe('Latency heat map: biolatency on db1, kernel 6.1.0-18-amd64, bpf-tracepoint (bpf), 3 s')
    const grid = lines.filter((l) => l.includes(' -> '))
    expect(grid).toEqual(['16 -> 31 |..@@    |', ' 8 -> 15 |@@    ##|'])
    expect(lines).toContain('          0 s  4 s')
    expect(lines.at(-1)).toBe("events per cell: '.' 1  '-' 2  '+' 3  '*' 4  '#' 5  '%' 6-7  '@' 8-9")
    expect(lines.join('\n')).not.toMatch(/\u001B/)
  })

  it('with colour: 256-colour backgrounds, the empty cells left blank', () => {
    const lines = renderHeatMapText(map, TITLE, {terminal: true, color: true, width: 80})
    const top = lines.find((l) => l.startsWith('16 -> 31'))!
    expect(top).toBe(`16 -> 31 |\u001B[48;5;230m  \u001B[0m\u001B[48;5;88m  \u001B[0m    |`)
  })

  it('columns that do not fit the width are the earliest, left out and said so', () => {
    const long = heatMapOf(run(Array.from({length: 100}, (_, c) => [histogram(null, {2: c + 1})])))
    const lines = renderHeatMapText(long, TITLE, {...PLAIN, width: 40})
    const row = lines.find((l) => l.includes(' -> '))!
    expect(row.length).toBeLessThanOrEqual(40)
    expect(lines).toContain('(the first 69 intervals do not fit the width and are left out)')
    expect(row.endsWith('@|')).toBe(true)
  })

  it('a run with no events says so', () => {
    expect(renderHeatMapText(heatMapOf(run([[]])), TITLE).at(-1)).toBe('no events were recorded in 1 intervals')
  })
})

describe('the heat map flags', () => {
  it('every tool whose output is log2 histograms has --heatmap and --heatmap-terminal, and no other tool has them', () => {
    for (const tool of TOOLS) {
      const flags = Object.keys(toolCommand(tool).flags)
      const has = Object.keys(heatmapFlags).every((f) => flags.includes(f))
      expect(has, tool.name).toBe(tool.output === 'histograms')
      if (tool.output !== 'histograms') expect(flags, tool.name).not.toContain('heatmap')
    }
    expect(TOOLS.filter((t) => t.output === 'histograms').map((t) => t.name)).toEqual(expect.arrayContaining(['biolatency', 'runqlat', 'funclatency', 'tcprtt']))
  })
})

describe('--heatmap on the command line, refused before the kernel is touched', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-heatmap-cli-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('a path it cannot write is bad input before tracing starts; a counts tool has no --heatmap', async () => {
    const run = await diag(['runqlat', '-d', '1', '--heatmap', '/nonexistent/dir/map.svg'])
    expect(run.exitCode).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(/--heatmap \/nonexistent\/dir\/map.svg: there is no directory \/nonexistent\/dir/)
    expect(run.stderr).not.toMatch(/Tracing/)
    const other = await diag(['syscount', '-d', '1', '--heatmap', path.join(dir, 'x.svg')])
    expect(other.exitCode).toBe(EXIT.badInput)
    expect(other.stderr).toMatch(/heatmap/)
  })

  it('diag fleet run refuses --heatmap and --heatmap-terminal for its hosts before connecting to any', async () => {
    const hosts = path.join(dir, 'hosts.txt')
    writeFileSync(hosts, 'unreachable.invalid\n')
    for (const flag of ['--heatmap=x.svg', '--heatmap-terminal']) {
      const run = await diag(['fleet', 'run', 'runqlat', '--hosts', hosts, '--', '-d', '1', flag])
      expect(run.exitCode).toBe(EXIT.badInput)
      expect(run.stderr).toMatch(new RegExp(`${flag.split('=')[0]} would draw on each host`))
    }
  })
})

describe('diag show --heatmap', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-heatmap-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))
  const saved = run([[histogram('sda', {3: 4})], [histogram('sda', {5: 2})]], 'disk')

  it('writes the saved result as an SVG heat map and prints the terminal one (characters in a pipe)', async () => {
    expect(schemaErrors('result', saved)).toBe('')
    const file = path.join(dir, 'bio.json')
    writeFileSync(file, JSON.stringify(saved))
    const svg = path.join(dir, 'bio.svg')
    const {exitCode, stdout} = await diag(['show', file, '--heatmap', svg, '--heatmap-terminal'])
    expect(exitCode).toBe(0)
    const written = readFileSync(svg, 'utf8')
    expect(written).toMatch(/data-columns="2"/)
    expect(written).toContain('biolatency on an unrecorded host, kernel 6.18.44')
    expect(stdout).toContain('disk = sda (6 events)')
    expect(stdout).toMatch(/^ 8 -> 15 \|@@ {2}\|$/m)
    expect(stdout).not.toMatch(/\u001B/)
  })

  it('refuses a result that is not histograms, and a path it cannot write, before writing anything', async () => {
    const file = path.join(dir, 'counts.json')
    writeFileSync(file, JSON.stringify(fakeResult('syscount', {kind: 'counts', key: 'syscall', rows: [{key: 'read', count: 1}]})))
    const notHistograms = await diag(['show', file, '--heatmap', path.join(dir, 'c.svg')])
    expect(notHistograms.exitCode).toBe(EXIT.badInput)
    expect(notHistograms.stderr).toMatch(/counts data, not log2 histograms/)
    const noDir = await diag(['show', file, '--heatmap', path.join(dir, 'nope', 'c.svg')])
    expect(noDir.exitCode).toBe(EXIT.badInput)
    expect(noDir.stderr).toMatch(/--heatmap .*there is no directory/)
  })
})

const hasScript = (await execa('script', ['--version'], {reject: false})).exitCode === 0

describe.skipIf(!hasScript)('--heatmap-terminal in a pseudo-terminal (script from util-linux)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-heatmap-tty-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))
  const file = path.join(dir, 'runqlat.json')
  writeFileSync(file, JSON.stringify(run([[histogram(null, {3: 9, 4: 1})], [histogram(null, {4: 9})], [], [histogram(null, {3: 5})]])))

  /** diag show FILE --heatmap-terminal on a terminal of 100 columns, with the given environment. */
  async function inTerminal(env: Record<string, string>): Promise<string> {
    const command = `stty cols 100 rows 50; '${process.execPath}' '${BIN}' show '${file}' --heatmap-terminal`
    const {stdout} = await execa('script', ['-qec', command, '/dev/null'], {env: {TERM: 'xterm-256color', ...env}, extendEnv: true})
    return stdout.replaceAll('\r', '')
  }

  it('prints coloured blocks on a terminal', async () => {
    const out = await inTerminal({NO_COLOR: ''})
    expect(out).toContain(`16 -> 31 |\u001B[48;5;230m  \u001B[0m\u001B[48;5;88m  \u001B[0m    |`)
    expect(out).toMatch(/events per cell: \u001B\[48;5;\d+m {2}\u001B\[0m 1/)
  })

  it('falls back to the characters with NO_COLOR set', async () => {
    const out = await inTerminal({NO_COLOR: '1'})
    expect(out).toContain('16 -> 31 |..@@    |')
    expect(out).not.toMatch(/\u001B\[48;5/)
  })
})

describe('heat maps in runbooks', () => {
  const FLAGS: Record<string, Record<string, FlagInfo>> = {
    biolatency: {disks: {type: 'boolean'}, interval: {type: 'option'}, heatmap: {type: 'option'}},
    syscount: {by: {type: 'option'}},
  }
  const parse = (text: string, set: Record<string, string> = {}) => parseRunbook(text, 'test.yaml', {set, flagsOf: (t) => FLAGS[t]})

  it('a step of a histograms tool takes heatmap: FILE, passed to the tool as --heatmap', () => {
    const runbook = parse('name: t\nvariables: {out: a.svg}\nsteps:\n  - tool: biolatency\n    duration: 1\n    heatmap: ${out}\n', {out: '/tmp/b.svg'})
    expect(runbook.entries[0][0].heatmap).toBe('/tmp/b.svg')
    expect(runbook.entries[0][0].argv).toEqual(['biolatency', '--duration', '1', '--heatmap', '/tmp/b.svg'])
  })

  it.for([
    ['name: t\nsteps:\n  - tool: syscount\n    duration: 1\n    heatmap: x.svg\n', /test.yaml:5:14: heatmap: is for tools whose output is log2 histograms; syscount gives counts/],
    ['name: t\nsteps:\n  - tool: biolatency\n    duration: 1\n    flags: {heatmap: x.svg}\n', /test.yaml:5:13: a step's heat map is its own field, heatmap: FILE, not a flag/],
    ['name: t\nsteps:\n  - tool: biolatency\n    duration: 1\n    flags: {heatmap-terminal: true}\n', /test.yaml:5:13: a step's heat map is its own field, heatmap: FILE, not a flag/],
    ['name: t\nsteps:\n  - tool: biolatency\n    flags: {duration: 1}\n', /test.yaml:4:13: a step's duration is its own field, duration: SECONDS, not a flag/],
    ['name: t\nsteps:\n  - tool: biolatency\n    duration: 1\n    heatmap: ""\n', /test.yaml:5:14: \/steps\/0\/heatmap must NOT have fewer than 1 characters/],
  ] as const)('is refused with its line and column: %s', ([text, message]) => {
    expect(() => parse(text)).toThrow(message)
  })

  it('the built-in disk-latency writes its heat map (disk-latency.svg unless --set heatmap=FILE)', () => {
    const {file, text} = locateRunbook('disk-latency')
    const step = parseRunbook(text, file, {set: {heatmap: '/tmp/disks.svg'}, flagsOf: (t) => FLAGS[t]}).entries[0][0]
    expect(step.argv).toEqual(expect.arrayContaining(['--disks', '--heatmap', '/tmp/disks.svg']))
    expect(parseRunbook(text, file, {flagsOf: (t) => FLAGS[t]}).entries[0][0].heatmap).toBe('disk-latency.svg')
  })

  it('diag runbook run refuses a heat map path it cannot write before any step runs', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'diag-heatmap-runbook-'))
    try {
      const file = path.join(dir, 'bad.yaml')
      writeFileSync(file, 'name: bad\nsteps:\n  - tool: syscount\n    duration: 1\n  - tool: biolatency\n    duration: 1\n    heatmap: /nonexistent/dir/x.svg\n')
      const run = await diag(['runbook', 'run', file, '--ci'])
      expect(run.exitCode).toBe(EXIT.badInput)
      expect(run.stderr).toMatch(/step biolatency: heatmap: \/nonexistent\/dir\/x.svg: there is no directory/)
      expect(run.stderr).not.toMatch(/\[syscount\]/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it("the Markdown report links the step's heat map", () => {
    const result = run([[histogram('sda', {3: 4})]], 'disk')
    const report: RunbookReport = {
      schema: 'diag/runbook-report',
      schemaVersion: 1,
      runbook: {name: 'disk-latency', description: '', source: 'disk-latency.yaml', variables: {}},
      host: {hostname: 'db1', kernel: '6.18.44'},
      startedAt: result.startedAt,
      seconds: 1,
      verdict: 'pass',
      interrupted: false,
      exitCode: 0,
      steps: [
        {name: 'disks', tool: 'biolatency', argv: ['biolatency', '--disks', '--heatmap', 'disk latency.svg'], heatmap: 'disk latency.svg', status: 'ran', backend: {name: 'bpf', candidate: 'bpf-tracepoint'}, reason: null, exitCode: 0, seconds: 1, result, checks: []},
        // The link comes from the step's heatmap: field, not from its command line.
        {name: 'other', tool: 'biolatency', argv: ['biolatency', '--heatmap', 'not-a-field.svg'], heatmap: null, status: 'ran', backend: {name: 'bpf', candidate: 'bpf-tracepoint'}, reason: null, exitCode: 0, seconds: 1, result, checks: []},
      ],
    }
    const markdown = markdownReport(report)
    expect(markdown).toContain('Latency heat map: [disk latency.svg](disk%20latency.svg)')
    expect(markdown.match(/Latency heat map:/g)).toHaveLength(1)
  })
})
