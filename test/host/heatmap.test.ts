import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'

import {bucketIndex} from '../../src/render/heatmap.js'
import type {Histograms, ToolResult} from '../../src/result/model.js'
import {diag, diagJson} from '../helpers/cli.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'
import {WORKLOAD, loopDevices, withLoopDevice, workloadBuilt} from '../helpers/workload.js'
import type {RunbookReport} from '../../src/runbook/run.js'

// A real runqlat run (the best backend here) drawn as a heat map: the picture holds what the JSON does.
const missing = !isRoot ? 'not root: runqlat cannot trace' : !workloadBuilt ? 'the test workload is not built (npm run build:workload)' : undefined

/** The cells of an SVG heat map: "panel label|column|bucket low" -> count. */
function cellsOf(svg: string): Map<string, number> {
  const cells = new Map<string, number>()
  for (const panel of svg.split('<g class="panel"').slice(1)) {
    const label = /^ data-label="([^"]*)"/.exec(panel)![1]
    for (const m of panel.matchAll(/<rect class="cell" data-column="(\d+)" data-low="(\d+)" data-count="(\d+)"/g)) cells.set(`${label}|${m[1]}|${m[2]}`, Number(m[3]))
  }
  return cells
}

/** The same from the JSON: every bucket of every interval, and 0 for the cells between. */
function expectCellsMatch(svg: string, result: ToolResult): void {
  const cells = cellsOf(svg)
  let events = 0
  result.intervals.forEach((interval, column) => {
    for (const histogram of (interval.data as Histograms).histograms)
      for (const bucket of histogram.buckets) {
        if (bucket.count === 0) continue
        const low = bucketIndex(bucket.low) === 0 ? 0 : bucket.low
        expect(cells.get(`${histogram.label ?? ''}|${column}|${low}`), `interval ${column}, bucket ${bucket.low}`).toBe(bucket.count)
        events += bucket.count
      }
  })
  expect(events).toBeGreaterThan(0)
  expect([...cells.values()].reduce((a, b) => a + b, 0)).toBe(events)
}

describe.skipIf(missing)('latency heat maps of a real run', () => {
  expectKernelStateKept()
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-heatmap-host-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  /** `command` over and over in its own process group while `use` runs; the group is killed after. */
  async function meanwhile<T>(command: string, use: () => Promise<T>): Promise<T> {
    const loop = execa('sh', ['-c', `while :; do ${command}; sleep 0.1; done`], {reject: false, detached: true})
    try {
      return await use()
    } finally {
      process.kill(-loop.pid!, 'SIGKILL')
      await loop
    }
  }

  /** Wakeups while the tool runs, so that every interval has events of its own. */
  async function withWakeups<T>(use: () => Promise<T>): Promise<T> {
    // Its own process group: the workload is two processes, and both must go.
    const workload = execa(WORKLOAD, ['wakeups', '2000000'], {reject: false, detached: true})
    try {
      return await use()
    } finally {
      process.kill(-workload.pid!, 'SIGKILL')
      await workload
    }
  }

  it('runqlat -i 1 -d 3 --heatmap: a column per interval, each cell the count of the JSON', {timeout: 60_000}, async () => {
    const svgFile = path.join(dir, 'runqlat.svg')
    const run = await withWakeups(() => diagJson<ToolResult>(['runqlat', '-i', '1', '-d', '3', '--heatmap', svgFile]))
    expect(run.exitCode, run.stderr).toBe(0)
    expect(schemaErrors('result', run.json)).toBe('')
    expect(run.stderr).toContain(`wrote the heat map to ${svgFile}`)
    const svg = readFileSync(svgFile, 'utf8')
    expect(run.json.intervals.length).toBeGreaterThanOrEqual(3)
    expect(svg).toContain(`data-columns="${run.json.intervals.length}"`)
    expect(svg).toContain(`Latency heat map: runqlat on `)
    expect(svg).toContain(`${run.json.backend.candidate} (${run.json.backend.name})`)
    expectCellsMatch(svg, run.json)
  })

  it('through the ftrace event stream too: runqlat --backend ftrace-stream -d 2 --heatmap, a column a second', {timeout: 60_000}, async () => {
    const svgFile = path.join(dir, 'ftrace.svg')
    const run = await withWakeups(() => diagJson<ToolResult>(['runqlat', '--backend', 'ftrace-stream', '-d', '2', '--heatmap', svgFile]))
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json.backend.candidate).toBe('ftrace-stream')
    expect(run.json.intervals.length).toBeGreaterThanOrEqual(2)
    const svg = readFileSync(svgFile, 'utf8')
    expect(svg).toContain(`data-columns="${run.json.intervals.length}"`)
    expect(svg).toContain('ftrace-stream (ftrace)')
    expectCellsMatch(svg, run.json)
  })

  it('without -i: a column per second in the SVG and the JSON, the text the whole run once, the terminal form as characters in a pipe', {timeout: 90_000}, async () => {
    const svgFile = path.join(dir, 'whole.svg')
    const json = await withWakeups(() => diagJson<ToolResult>(['runqlat', '-d', '2', '--heatmap', svgFile]))
    expect(json.exitCode, json.stderr).toBe(0)
    expect(json.json.intervals.length).toBeGreaterThanOrEqual(2)
    expect(json.json.intervals[0].seconds).toBeCloseTo(1, 0)
    expectCellsMatch(readFileSync(svgFile, 'utf8'), json.json)

    const text = await withWakeups(() => diag(['runqlat', '-d', '2', '--heatmap-terminal']))
    expect(text.exitCode, text.stderr).toBe(0)
    // One histogram (no per-interval time lines), then the heat map drawn with the ramp's characters.
    expect(text.stdout.match(/: count +distribution/g)).toHaveLength(1)
    expect(text.stdout).not.toMatch(/^\d\d:\d\d:\d\d \(/m)
    expect(text.stdout).toMatch(/^Latency heat map: runqlat on .* 2 s$/m)
    expect(text.stdout).toMatch(/^ *\d+ -> \d+ \|[ .:\-=+*#%@]+\|$/m)
    expect(text.stdout).not.toMatch(/\u001B/)
  })

  it('the disk-latency runbook writes a heat map with a panel per disk, its columns the step\'s intervals, linked from the report', {timeout: 90_000}, async (context) => {
    if (!loopDevices) return context.skip('no loop devices (/dev/loop-control)')
    const svgFile = path.join(dir, 'disks.svg')
    const reportFile = path.join(dir, 'disks.md')
    await withLoopDevice(async (device) => {
      const args = ['runbook', 'run', 'disk-latency', '--ci', '--set', 'duration=3', '--set', 'interval=1', '--set', `heatmap=${svgFile}`, '--report', reportFile]
      const run = await meanwhile(`'${WORKLOAD}' dwrite ${device} 20`, () => diagJson<RunbookReport>(args))
      expect([0, 8, 9], run.stderr).toContain(run.exitCode)
      const step = run.json.steps[0]
      expect(step.status, step.reason ?? '').toBe('ran')
      const result = step.result!
      const svg = readFileSync(svgFile, 'utf8')
      expect(svg).toContain(`data-columns="${result.intervals.length}"`)
      expect(result.intervals.length).toBeGreaterThanOrEqual(3)
      const disk = path.basename(device)
      expect(svg).toContain(`data-label="${disk}"`)
      expect(svg).toMatch(new RegExp(`disk = ${disk} \\(\\d[\\d,]* events\\)`))
      expectCellsMatch(svg, result)
      expect(readFileSync(reportFile, 'utf8')).toContain(`Latency heat map: [${svgFile}](${svgFile})`)
    })
  })
})
