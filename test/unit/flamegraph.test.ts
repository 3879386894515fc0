import {mkdtempSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {BadInputError, EXIT} from '../../src/errors.js'
import {flameGraphOf, frameColour, frameLabel, layoutFlameGraph, renderFlameGraph, xmlEscape} from '../../src/render/flamegraph.js'
import type {Stacks} from '../../src/result/kinds/stacks.js'
import {checkOutputFile, writeOutputFile} from '../../src/system/output-file.js'
import {diag} from '../helpers/cli.js'
import {fakeResult} from '../helpers/results.js'

const TITLE = {tool: 'offcputime', host: 'db1', kernel: '6.1.0-18-amd64', backend: 'bpf-tp-btf (bpf)', seconds: 5.04}

const data: Stacks = {
  kind: 'stacks',
  unit: 'usecs',
  stacks: [
    {frames: ['app', 'main', 'read', 'schedule'], kernelFrom: 3, value: 30},
    {frames: ['app', 'main', 'nanosleep', 'schedule'], kernelFrom: 3, value: 50},
    {frames: ['app', 'main'], kernelFrom: 2, value: 20},
    {frames: ['kworker/0:1', 'worker_thread', 'schedule'], kernelFrom: 1, value: 100},
    {frames: ['idle'], kernelFrom: 1, value: 0},
  ],
}

const boxes = (stacks: Stacks) => layoutFlameGraph(stacks).boxes.map((b) => `${b.depth} ${b.start}+${b.value} ${b.family} ${b.name}`)

describe('flame graph layout', () => {
  it('merges stacks by prefix into one tree: width by value, depth by frame, siblings in name order', () => {
    const layout = layoutFlameGraph(data)
    expect(layout.total).toBe(200)
    expect(layout.depth).toBe(4)
    expect(boxes(data)).toEqual([
      '0 0+200 root all',
      '1 0+100 user app',
      '2 0+100 user main',
      '3 0+50 user nanosleep',
      '4 0+50 kernel schedule',
      '3 50+30 user read',
      '4 50+30 kernel schedule',
      '1 100+100 user kworker/0:1',
      '2 100+100 kernel worker_thread',
      '3 100+100 kernel schedule',
    ])
  })

  it('keeps a kernel and a user frame of one name apart, and colours the two families apart', () => {
    const same: Stacks = {...data, stacks: [{frames: ['app', 'poll'], kernelFrom: 1, value: 1}, {frames: ['app', 'poll'], kernelFrom: 2, value: 2}]}
    expect(boxes(same)).toEqual(['0 0+3 root all', '1 0+3 user app', '2 0+1 kernel poll', '2 1+2 user poll'])
    const hue = (rgb: string) => {
      const [r, , b] = rgb.match(/\d+/g)!.map(Number)
      return b > r ? 'blue' : r > b ? 'orange' : 'grey'
    }
    for (const name of ['schedule', 'do_syscall_64', 'x', 'worker_thread']) {
      expect(hue(frameColour(name, 'kernel'))).toBe('orange')
      expect(hue(frameColour(name, 'user'))).toBe('blue')
    }
    expect(frameColour('[lost kernel stack]', 'kernel')).toMatch(/^rgb\((\d+),\1,\1\)$/)
    // The same name, the same colour: a function is recognisable across the graph.
    expect(frameColour('schedule', 'kernel')).toBe(frameColour('schedule', 'kernel'))
  })

  it('marks frames of unknown family when the tool cannot tell kernel from user, and lays out nothing without values', () => {
    expect(boxes({...data, stacks: [{frames: ['a', 'b'], value: 4}]})).toEqual(['0 0+4 root all', '1 0+4 unknown a', '2 0+4 unknown b'])
    expect(layoutFlameGraph({...data, stacks: [{frames: ['a'], value: 0}]})).toEqual({total: 0, depth: 0, boxes: []})
  })

  it('cuts labels to the width of their frame', () => {
    expect(frameLabel('schedule', 1000)).toBe('schedule')
    expect(frameLabel('do_syscall_64', 60)).toBe('do_sy..')
    expect(frameLabel('schedule', 20)).toBe('')
    // A cut never splits a character made of two UTF-16 units.
    expect(frameLabel('𝒜𝒜𝒜𝒜𝒜𝒜𝒜𝒜𝒜𝒜', 50)).toBe('𝒜𝒜𝒜𝒜..')
  })
})

describe('flame graph SVG', () => {
  it('escapes every frame name: markup, quotes, and characters XML cannot hold', () => {
    expect(xmlEscape(`<script>alert("x" & 'y')</script>`)).toBe('&lt;script&gt;alert(&quot;x&quot; &amp; &apos;y&apos;)&lt;/script&gt;')
    expect(xmlEscape('bell\u0007\u0000 tab\tnl\n')).toBe('bell\\x07\\x00 tab&#9;nl&#10;')
    expect(xmlEscape('lone \ud800 pair 𝒜')).toBe('lone \\xd800 pair 𝒜')
  })

  it('a frame named <script> stays text: the only script element is the graph\'s own', () => {
    const hostile: Stacks = {
      ...data,
      stacks: [{frames: ['<script>alert(1)</script>', ']]><svg onload="alert(2)">', '&amp;'], kernelFrom: 3, value: 10}],
    }
    const svg = renderFlameGraph(hostile, {...TITLE, host: '<b>host</b>'})
    expect(svg.match(/<script/g)).toHaveLength(1)
    expect(svg).not.toMatch(/<svg onload/)
    expect(svg).toContain('data-name="&lt;script&gt;alert(1)&lt;/script&gt;"')
    expect(svg).toContain('<title>&lt;script&gt;alert(1)&lt;/script&gt; (10 usecs, 100.00%)</title>')
    expect(svg).toContain('data-name="]]&gt;&lt;svg onload=&quot;alert(2)&quot;&gt;"')
    expect(svg).toContain('&amp;amp;')
    expect(svg).toContain('offcputime on &lt;b&gt;host&lt;/b&gt;')
  })

  it('is self-contained: its style and script inline, nothing fetched', () => {
    const svg = renderFlameGraph(data, TITLE)
    expect(svg).not.toMatch(/\b(href|src)=|@import|url\(|https?:\/\/(?!www\.w3\.org\/)/)
    expect(svg).toMatch(/<style>[^]*<\/style>/)
    expect(svg).toMatch(/<script type="text\/ecmascript"><!\[CDATA\[[^]*\]\]><\/script>/)
  })

  it('titles the graph with the tool, host, kernel, backend and duration; gives each frame its value and share', () => {
    const svg = renderFlameGraph(data, TITLE)
    expect(svg).toContain('<text id="title" x="10" y="22">offcputime on db1, kernel 6.1.0-18-amd64, bpf-tp-btf (bpf), 5 s</text>')
    expect(svg).toContain('200 usecs in all')
    expect(svg).toContain('<title>nanosleep (50 usecs, 25.00%)</title>')
    expect(svg).toMatch(/<g class="f kernel" data-name="worker_thread" data-start="100" data-value="100" data-depth="2">/)
    expect(svg).toMatch(/<g class="f user" data-name="main"/)
    // Half the graph's 1180 pixels, from the left pad.
    expect(svg).toMatch(/data-name="kworker\/0:1"[^]*?<rect x="600.00" y="\d+" width="590.00"/)
  })

  it('says so when there is nothing to draw', () => {
    const svg = renderFlameGraph({...data, stacks: []}, TITLE)
    expect(svg).toContain('no stacks were recorded')
    expect(svg).not.toContain('<g class="f')
  })

  it('draws a whole run: its intervals combined', () => {
    const second: Stacks = {...data, stacks: [{frames: ['app', 'main'], kernelFrom: 2, value: 100}]}
    const result = fakeResult('offcputime', data, {seconds: 2})
    result.intervals.push({...result.intervals[0], data: second})
    const svg = flameGraphOf(result, 'db1')
    expect(svg).toContain('300 usecs in all')
    expect(svg).toContain('<title>main (200 usecs, 66.67%)</title>')
    expect(() => flameGraphOf(fakeResult('syscount', {kind: 'counts', key: 'syscall', counts: []} as never), 'db1')).toThrow(/not stacks/)
  })
})

describe('--svg FILE', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-svg-'))

  it('refuses a path it could not write before anything runs', async () => {
    mkdirSync(path.join(dir, 'sub'), {recursive: true})
    await expect(checkOutputFile('--svg', path.join(dir, 'graph.svg'))).resolves.toBeUndefined()
    await expect(checkOutputFile('--svg', path.join(dir, 'missing', 'graph.svg'))).rejects.toThrow(/there is no directory/)
    await expect(checkOutputFile('--svg', path.join(dir, 'sub'))).rejects.toThrow(/is a directory/)
    await expect(checkOutputFile('--svg', '/dev/null')).rejects.toThrow(/not a regular file/)
    await expect(checkOutputFile('--svg', '-')).rejects.toBeInstanceOf(BadInputError)
  })

  it('writes the whole file or nothing', async () => {
    const file = path.join(dir, 'out.svg')
    writeFileSync(file, 'old')
    await writeOutputFile('--svg', file, '<svg/>')
    expect(readFileSync(file, 'utf8')).toBe('<svg/>')
    await expect(writeOutputFile('--svg', path.join(dir, 'gone', 'x.svg'), '<svg/>')).rejects.toThrow(/--svg .*could not write it/)
  })

  // The built CLI: refused before the probe, without root; only the stacks tools take the flag.
  it('diag offcputime --svg into a missing directory is bad input, and syscount has no --svg', async () => {
    const run = await diag(['offcputime', '-d', '1', '--svg', '/nonexistent/dir/graph.svg'])
    expect(run.exitCode).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(/--svg \/nonexistent\/dir\/graph.svg: there is no directory \/nonexistent\/dir/)
    expect(run.stderr).not.toMatch(/Tracing/)
    const other = await diag(['syscount', '-d', '1', '--svg', path.join(dir, 'x.svg')])
    expect(other.exitCode).toBe(EXIT.badInput)
    expect(other.stderr).toMatch(/svg/)
  })

  it('diag fleet run refuses --svg for its hosts (not for the command they trace) before connecting to any', async () => {
    const hosts = path.join(dir, 'hosts.txt')
    writeFileSync(hosts, 'unreachable.invalid\n')
    const run = await diag(['fleet', 'run', 'offcputime', '--hosts', hosts, '--', '-d', '1', '--svg', 'x.svg'])
    expect(run.exitCode).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(/--svg would write a file on each host/)
    const traced = await diag(['fleet', 'run', 'offcputime', '--hosts', hosts, '--connect-timeout', '1', '--', '-d', '1', '--', 'echo', '--svg'])
    expect(traced.stderr).not.toMatch(/--svg would write/)
  })
})
