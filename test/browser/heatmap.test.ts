/// <reference lib="dom" />
// The callbacks given to page.evaluate run in the browser, on its DOM.
import {readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {heatMapOf, renderHeatMapSvg} from '../../src/render/heatmap.js'
import type {Histogram} from '../../src/result/kinds/histograms.js'
import type {ToolResult} from '../../src/result/model.js'
import {chromiumMissing, chromiumSession, openSvg} from '../helpers/browser.js'
import {fakeResult} from '../helpers/results.js'

const missing = chromiumMissing
const TITLE = {tool: 'biolatency', host: 'db1', kernel: '6.1.0-18-amd64', backend: 'bpf-tracepoint (bpf)', seconds: 30}
const HOSTILE = '<script>alert(1)</script>'

/** A run of `columns` one-second intervals, a histogram per label each, the latency drifting up over time. */
function run(columns: number, labels: (string | null)[]): ToolResult {
  const intervals = Array.from({length: columns}, (_, c) => {
    const histograms: Histogram[] = labels.map((label, k) => {
      const buckets = Array.from({length: 14}, (_, i) => ({
        low: i === 0 ? 0 : 2 ** i,
        high: 2 ** (i + 1) - 1,
        count: Math.round(200 * Math.exp(-((i - 4 - k - (6 * c) / columns) ** 2))),
      }))
      return {label, buckets, count: buckets.reduce((s, b) => s + b.count, 0)}
    })
    // A gap in the middle: an interval with no events.
    return {time: new Date(Date.UTC(2026, 10, 27, 6, 0, c + 1)).toISOString(), seconds: 1, data: {kind: 'histograms' as const, unit: 'usecs' as const, labelKey: labels[0] === null ? null : 'disk', histograms: c === Math.floor(columns / 2) ? [] : histograms}}
  })
  return {...fakeResult('biolatency', intervals[0].data), intervals, seconds: columns}
}

describe('heat maps in headless Chromium', () => {
  const {dir, browser} = chromiumSession('diag-heatmap-')

  const cases: [string, ToolResult][] = [
    ['one', run(30, [null])],
    ['disks', run(30, ['sda', 'nvme0n1', HOSTILE])],
    ['empty', {...run(3, [null]), intervals: run(3, [null]).intervals.map((i) => ({...i, data: {kind: 'histograms', unit: 'usecs', labelKey: null, histograms: []}}))}],
    ['long', run(600, ['sda'])],
  ]

  for (const [name, result] of cases) {
    it(`${name}: loads with no console errors, its cells laid out in the plot, and screenshots`, async (context) => {
      if (missing) return context.skip(missing)
      const map = heatMapOf(result)
      const {page, problems} = await openSvg(browser(), path.join(dir, `${name}.svg`), renderHeatMapSvg(map, TITLE), {width: 1100, height: 900})
      expect(await page.$$eval('script', (s) => s.length)).toBe(0)

      const panels = await page.$$eval('g.panel', (gs) => gs.map((g) => g.getAttribute('data-label')))
      expect(panels).toEqual(map.panels.length === 0 ? [''] : map.panels.map((p) => p.label ?? ''))
      expect(await page.$$eval('rect.cell', (cells) => cells.length)).toBe(map.panels.length * map.columns.length * map.rows.length)
      // Every cell is drawn inside its panel's plot, the columns side by side across it.
      const boxes = await page.$$eval('rect.cell', (cells) => cells.map((c) => c.getBoundingClientRect()).map((r) => ({x: r.x, y: r.y, w: r.width, h: r.height})))
      for (const box of boxes) {
        expect(box.x).toBeGreaterThanOrEqual(149.9)
        expect(box.x + box.w).toBeLessThanOrEqual(1050.1)
        expect(box.h).toBe(16)
      }
      if (map.rows.length > 0) expect(new Set(boxes.map((b) => b.x.toFixed(1))).size).toBe(map.columns.length)
      const title = await page.$eval('#title', (t) => t.textContent)
      expect(title).toBe('Latency heat map: biolatency on db1, kernel 6.1.0-18-amd64, bpf-tracepoint (bpf), 30 s')
      // The hostile label is a heading's text, not an element.
      if (name === 'disks') {
        expect(await page.$$eval('.panel-heading', (hs) => hs.map((h) => h.textContent))).toContain(`disk = ${HOSTILE} (${map.panels[2].total.toLocaleString('en-US')} events)`)
        expect(await page.$$eval('svg script, svg svg', (e) => e.length)).toBe(0)
      }
      const png = path.join(dir, `${name}.png`)
      await page.screenshot({path: png as `${string}.png`, fullPage: true})
      expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG')
      expect(problems).toEqual([])
      await page.close()
    })
  }
})
