/// <reference lib="dom" />
// The SVGs diag writes, opened in a real browser: Debian's chromium (scripts/setup.sh installs
// it), driven by puppeteer-core over the DevTools protocol.
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import puppeteer, {type Browser, type Page} from 'puppeteer-core'
import {afterAll, beforeAll, expect} from 'vitest'

const CHROMIUM = '/usr/bin/chromium'
/** Why the browser tests cannot run here, or undefined when they can. */
export const chromiumMissing = existsSync(CHROMIUM) ? undefined : 'chromium is not installed'

export async function launchChromium(): Promise<Browser> {
  // As root, Chromium runs only without its sandbox.
  const root = process.getuid?.() === 0
  return puppeteer.launch({executablePath: CHROMIUM, headless: true, args: root ? ['--no-sandbox'] : []})
}

export interface LoadedSvg {
  page: Page
  /** Console errors, page errors, dialogs and requests for anything but the file itself. */
  problems: string[]
}

/**
 * Writes `svg` to `file` and opens it in a new page, collecting whatever goes wrong: the file must
 * be well-formed SVG that asks for nothing but itself.
 */
export async function openSvg(browser: Browser, file: string, svg: string, viewport: {width: number; height: number}): Promise<LoadedSvg> {
  writeFileSync(file, svg)
  const url = pathToFileURL(path.resolve(file)).href
  const page = await browser.newPage()
  await page.setViewport(viewport)
  const problems: string[] = []
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`))
  page.on('pageerror', (error) => problems.push(`page error: ${(error as Error).message}`))
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`)
    void dialog.dismiss()
  })
  page.on('request', (request) => request.url() !== url && problems.push(`request: ${request.url()}`))
  // A file that cannot be read makes goto throw (net::ERR_FILE_NOT_FOUND); a file: response has no HTTP status to check.
  await page.goto(url, {waitUntil: 'load'})
  // A document that is not well-formed XML loads as Chromium's parser-error page.
  expect(await page.$('parsererror')).toBeNull()
  expect(await page.evaluate(() => document.documentElement.localName)).toBe('svg')
  return {page, problems}
}

/**
 * For a describe block: a temporary directory for the SVGs and screenshots, and a browser launched
 * before its tests (unless chromium is missing) and closed after them, with the directory.
 */
export function chromiumSession(prefix: string): {dir: string; browser: () => Browser} {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  let browser: Browser | undefined
  beforeAll(async () => {
    if (!chromiumMissing) browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    rmSync(dir, {recursive: true, force: true})
  })
  return {dir, browser: () => browser!}
}
