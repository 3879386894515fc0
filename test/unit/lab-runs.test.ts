import {existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {availableParallelism, tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {addHostFiles, labConcurrency, sweepLabTemp, withLimit} from '../lab/lab.js'

// The lab's bookkeeping (test/lab/lab.ts): boots side by side, and lab runs that share a temp
// directory without taking each other's files. The boots themselves run in test/lab.
describe('the lab temp directory sweep', () => {
  let dir: string
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  const alive = (pid: number) => pid === 100

  it('keeps the base image another running lab holds, and removes only images nobody holds', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lab-sweep-'))
    for (const image of ['diag-lab-base-aaaa.cpio', 'diag-lab-base-bbbb.cpio', 'diag-lab-base-cccc.cpio']) writeFileSync(path.join(dir, image), 'image')
    // A running lab links the image it uses into its run directory.
    mkdirSync(path.join(dir, 'diag-lab-run-100-xyz'))
    linkSync(path.join(dir, 'diag-lab-base-bbbb.cpio'), path.join(dir, 'diag-lab-run-100-xyz/base.cpio'))
    expect(sweepLabTemp(dir, path.join(dir, 'diag-lab-base-aaaa.cpio'), alive)).toEqual(['diag-lab-base-cccc.cpio'])
    expect(readdirSync(dir).sort()).toEqual(['diag-lab-base-aaaa.cpio', 'diag-lab-base-bbbb.cpio', 'diag-lab-run-100-xyz'])
  })

  it('leaves images alone until the run knows which one it uses', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lab-sweep-'))
    writeFileSync(path.join(dir, 'diag-lab-base-aaaa.cpio'), 'image')
    expect(sweepLabTemp(dir, undefined, alive)).toEqual([])
  })

  it('removes the run directories and half-built images of runs that are gone, not of running ones', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lab-sweep-'))
    for (const run of ['diag-lab-run-100-abc', 'diag-lab-run-200-def']) mkdirSync(path.join(dir, run, 'debian-6.1-q'), {recursive: true})
    writeFileSync(path.join(dir, 'diag-lab-base-aaaa.cpio.partial-100'), '')
    writeFileSync(path.join(dir, 'diag-lab-base-aaaa.cpio.partial-200'), '')
    writeFileSync(path.join(dir, 'unrelated-200'), '')
    expect(sweepLabTemp(dir, undefined, alive).sort()).toEqual(['diag-lab-base-aaaa.cpio.partial-200', 'diag-lab-run-200-def'])
    expect(existsSync(path.join(dir, 'diag-lab-run-100-abc/debian-6.1-q'))).toBe(true)
    expect(existsSync(path.join(dir, 'unrelated-200'))).toBe(true)
  })
})

describe('lab boots side by side', () => {
  it('runs at most the limit at once, starting them in order, and a failure does not stop the rest', async () => {
    const started: number[] = []
    let running = 0
    let most = 0
    const job = (i: number) => async () => {
      started.push(i)
      most = Math.max(most, ++running)
      await new Promise((resolve) => setTimeout(resolve, 20 + (i % 2) * 20))
      running--
      if (i === 1) throw new Error('kernel 1 failed')
      return i
    }
    const results = await Promise.allSettled(withLimit([0, 1, 2, 3, 4].map(job), 2))
    expect(most).toBe(2)
    expect(started).toEqual([0, 1, 2, 3, 4])
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([0, 'kernel 1 failed', 2, 3, 4])
  })

  it('runs one after another with a limit of one', async () => {
    const log: string[] = []
    const job = (i: number) => async () => {
      log.push(`start ${i}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
      log.push(`end ${i}`)
    }
    await Promise.all(withLimit([0, 1, 2].map(job), 1))
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2'])
  })

  it('boots two at a time unless DIAG_LAB_CONCURRENCY says otherwise', () => {
    expect(labConcurrency({})).toBe(Math.min(2, availableParallelism()))
    expect(labConcurrency({DIAG_LAB_CONCURRENCY: '1'})).toBe(1)
    expect(labConcurrency({DIAG_LAB_CONCURRENCY: '3'})).toBe(3)
    for (const bad of ['0', 'two', '-1', '1.5']) expect(() => labConcurrency({DIAG_LAB_CONCURRENCY: bad})).toThrow(/DIAG_LAB_CONCURRENCY/)
  })
})

// A bench's extra programs (bpftrace) go into its own boot's image, not the base every lab run shares.
describe("a boot's host files", () => {
  let dir: string
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('copies a program with the shared libraries it links, and files and folders, at their paths', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'lab-host-files-'))
    const folder = mkdtempSync(path.join(tmpdir(), 'lab-host-folder-'))
    try {
      writeFileSync(path.join(folder, 'a.h'), '#define A 1\n')
      await addHostFiles(dir, {programs: ['/usr/bin/env'], paths: [folder]})
      expect(existsSync(path.join(dir, 'usr/bin/env'))).toBe(true)
      expect(existsSync(path.join(dir, 'lib64/ld-linux-x86-64.so.2'))).toBe(true)
      expect(readdirSync(path.join(dir, 'lib/x86_64-linux-gnu'))).toContain('libc.so.6')
      expect(readdirSync(path.join(dir, folder))).toEqual(['a.h'])
    } finally {
      rmSync(folder, {recursive: true, force: true})
    }
  })
})
