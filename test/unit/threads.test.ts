import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {ThreadGroups, ThreadNames} from '../../src/system/threads.js'

// trace_pipe_raw gives a thread's id only: its name and process come from /proc while it lives,
// else from what the kernel recorded (saved_cmdlines, saved_tgids).
describe('naming threads of raw events', () => {
  let dir: string | undefined
  afterEach(() => {
    if (dir) rmSync(dir, {recursive: true, force: true})
  })
  // Above any pid_max: never in /proc.
  const GONE = 2 ** 30 + 7

  it('names a live thread from /proc, a gone one from saved_cmdlines, else <...>', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'diag-threads-'))
    writeFileSync(path.join(dir, 'saved_cmdlines'), `1 init\n${GONE} short-lived\n`)
    const names = new ThreadNames(path.join(dir, 'saved_cmdlines'))
    expect(names.nameOf(process.pid)).toBe(readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim())
    expect(names.nameOf(GONE)).toBe('short-lived')
    expect(names.nameOf(GONE + 1)).toBe('<...>')
    expect(new ThreadNames().nameOf(GONE)).toBe('<...>')
  })

  it('places a gone thread in the group saved_tgids recorded, and none where it recorded 0', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'diag-threads-'))
    writeFileSync(path.join(dir, 'saved_tgids'), `${GONE} ${GONE - 3}\n${GONE + 1} 0\n`)
    const groups = new ThreadGroups(path.join(dir, 'saved_tgids'))
    expect(groups.groupOf(process.pid)).toBe(process.pid)
    expect(groups.groupOf(GONE)).toBe(GONE - 3)
    expect(groups.groupOf(GONE + 1)).toBeUndefined()
    expect(new ThreadGroups().groupOf(GONE)).toBeUndefined()
  })
})
