/// <reference lib="dom" />
// The callbacks given to page.evaluate run in the browser, on its DOM.
import {readFileSync} from 'node:fs'
import path from 'node:path'

import type {Page} from 'puppeteer-core'
import {describe, expect, it} from 'vitest'

import {renderFlameGraph} from '../../src/render/flamegraph.js'
import type {Stacks} from '../../src/result/kinds/stacks.js'
import {type LoadedSvg, chromiumMissing, chromiumSession, openSvg} from '../helpers/browser.js'

const missing = chromiumMissing
const TITLE = {tool: 'offcputime', host: 'db1', kernel: '6.1.0-18-amd64', backend: 'bpf-tp-btf (bpf)', seconds: 5}
const HOSTILE = '<script>alert(1)</script>'

const stacks: Stacks = {
  kind: 'stacks',
  unit: 'usecs',
  stacks: [
    {frames: ['app', 'main', 'read', 'schedule'], kernelFrom: 3, value: 30},
    {frames: ['app', 'main', 'nanosleep', 'schedule'], kernelFrom: 3, value: 50},
    {frames: ['app', 'main'], kernelFrom: 2, value: 20},
    {frames: ['kworker/0:1', 'worker_thread', 'schedule'], kernelFrom: 1, value: 90},
    {frames: [HOSTILE, ']]><svg onload="alert(2)">', 'bell\u0007 & "quotes"'], kernelFrom: 2, value: 10},
  ],
}

/** Many stacks, deep and wide, as a busy host gives. */
function manyStacks(): Stacks {
  const out: Stacks = {kind: 'stacks', unit: 'usecs', stacks: []}
  for (let i = 0; i < 1500; i++) {
    const user = Array.from({length: 1 + (i % 9)}, (_, d) => `fn_${d}_${(i * 7 + d) % 23}`)
    out.stacks.push({frames: [`task${i % 12}`, ...user, 'entry_SYSCALL_64', `sys_${i % 5}`, 'schedule'], kernelFrom: 1 + user.length, value: 1 + ((i * 31) % 997)})
  }
  return out
}

describe('flame graphs in headless Chromium', () => {
  const {dir, browser} = chromiumSession('diag-flamegraph-')

  const load = (name: string, data: Stacks): Promise<LoadedSvg> =>
    openSvg(browser(), path.join(dir, `${name}.svg`), renderFlameGraph(data, TITLE), {width: 1200, height: 800})

  async function screenshot(page: Page, name: string): Promise<void> {
    const file = path.join(dir, `${name}.png`)
    await page.screenshot({path: file as `${string}.png`})
    const png = readFileSync(file)
    expect(png.length).toBeGreaterThan(1000)
    expect(png.subarray(1, 4).toString()).toBe('PNG')
  }

  const frame = (page: Page, name: string) =>
    page.evaluate((n) => {
      const g = Array.from(document.querySelectorAll('g.f')).find((e) => e.getAttribute('data-name') === n)!
      const rect = g.querySelector('rect')!
      return {classes: g.getAttribute('class'), x: Number(rect.getAttribute('x')), width: Number(rect.getAttribute('width')), label: g.querySelector('text')!.textContent}
    }, name)

  const clickFrame = async (page: Page, name: string) => {
    const box = await page.evaluate((n) => {
      const rect = Array.from(document.querySelectorAll('g.f')).find((e) => e.getAttribute('data-name') === n)!.querySelector('rect')!.getBoundingClientRect()
      return {x: rect.x + rect.width / 2, y: rect.y + rect.height / 2}
    }, name)
    await page.mouse.click(box.x, box.y)
  }

  it('loads with no console errors, shows a hostile frame name as text, and screenshots', async (context) => {
    if (missing) return context.skip(missing)
    const {page, problems} = await load('stacks', stacks)
    await screenshot(page, 'stacks')
    expect(await page.$$eval('script', (scripts) => scripts.length)).toBe(1)
    const hostile = await page.evaluate((n) => {
      const g = Array.from(document.querySelectorAll('g.f')).find((e) => e.getAttribute('data-name') === n)
      return g?.querySelector('title')?.textContent
    }, HOSTILE)
    expect(hostile).toBe(`${HOSTILE} (10 usecs, 5.00%)`)
    expect(await page.$$eval('svg svg', (inner) => inner.length)).toBe(0)
    expect(await page.$eval('#title', (t) => t.textContent)).toBe('offcputime on db1, kernel 6.1.0-18-amd64, bpf-tp-btf (bpf), 5 s')
    expect(problems).toEqual([])
    await page.close()
  })

  it('hover shows the frame and its share; a click zooms into it; Reset zoom undoes it', async (context) => {
    if (missing) return context.skip(missing)
    const {page, problems} = await load('zoom', stacks)
    const nanosleep = await frame(page, 'nanosleep')
    expect(nanosleep.width).toBeCloseTo((50 / 200) * 1180, 1)
    await page.mouse.move(nanosleep.x + nanosleep.width / 2, (await page.$eval('g.f[data-name="nanosleep"] rect', (r) => r.getBoundingClientRect().y)) + 5)
    expect(await page.$eval('#details', (d) => d.textContent)).toBe('nanosleep (50 usecs, 25.00%)')

    await clickFrame(page, 'main')
    expect(await page.$eval('svg', (s) => s.getAttribute('data-zoomed'))).toBe('main')
    // main fills the width, its children share it, its ancestors are dimmed, the rest hidden.
    expect(await frame(page, 'main')).toMatchObject({x: 10, width: 1180, label: 'main'})
    expect((await frame(page, 'nanosleep')).width).toBeCloseTo(590, 1)
    expect((await frame(page, 'read')).width).toBeCloseTo(354, 1)
    expect((await frame(page, 'app')).classes).toMatch(/\bparent\b/)
    expect((await frame(page, 'kworker/0:1')).classes).toMatch(/\bhide\b/)
    expect(await page.$eval('#unzoom', (u) => u.getAttribute('class'))).not.toMatch(/hide/)
    await screenshot(page, 'zoomed')

    await page.click('#unzoom')
    expect((await frame(page, 'nanosleep')).width).toBeCloseTo(295, 1)
    expect((await frame(page, 'kworker/0:1')).classes).not.toMatch(/hide/)
    expect(await page.$eval('#unzoom', (u) => u.getAttribute('class'))).toMatch(/hide/)
    expect(problems).toEqual([])
    await page.close()
  })

  it('the search box highlights the matching frames and says what share they cover', async (context) => {
    if (missing) return context.skip(missing)
    const {page, problems} = await load('search', stacks)
    await page.type('#search', 'SCHED')
    const matches = await page.$$eval('g.f.match', (gs) => gs.map((g) => g.getAttribute('data-name')))
    expect(matches).toEqual(['schedule', 'schedule', 'schedule'])
    // 30 + 50 + 90 of 200: the matches never overlap here.
    expect(await page.$eval('#matched', (m) => m.textContent)).toBe('Matched: 85.00%')
    // A match inside a match counts once: nanosleep (50) inside main (100), and onload's frame (10).
    await page.$eval('#search', (s) => ((s as HTMLInputElement).value = ''))
    await page.type('#search', 'n')
    expect(await page.$eval('#matched', (m) => m.textContent)).toBe('Matched: 55.00%')
    await page.keyboard.press('Escape')
    expect(await page.$$eval('g.f.match', (gs) => gs.length)).toBe(0)
    expect(problems).toEqual([])
    await page.close()
  })

  it('an empty run and a large one load without errors', async (context) => {
    if (missing) return context.skip(missing)
    const runs: [string, Stacks][] = [
      ['empty', {kind: 'stacks', unit: 'usecs', stacks: []}],
      ['large', manyStacks()],
    ]
    for (const [name, data] of runs) {
      const {page, problems} = await load(name, data)
      await screenshot(page, name)
      // Escape clears the search and the zoom, with frames or none.
      await page.keyboard.press('Escape')
      if (name === 'large') {
        await clickFrame(page, 'task3')
        expect(await page.$eval('svg', (s) => s.getAttribute('data-zoomed'))).toBe('task3')
        expect((await frame(page, 'task3')).width).toBe(1180)
      }
      expect(problems, name).toEqual([])
      await page.close()
    }
  })
})
