import {copyFileSync, existsSync, mkdtempSync, renameSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeEach, describe, expect, it, vi} from 'vitest'

import {Symbolizer} from '../../src/symbols/symbolizer.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {OFFCPU_WORKLOAD} from '../helpers/workload.js'

// Every statSync the symbolizer makes (mapped files' sizes, sameFile's inodes), recorded by path.
const stats = vi.hoisted(() => ({paths: [] as string[]}))
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>()
  const statSync = ((file: Parameters<typeof fs.statSync>[0], options?: Parameters<typeof fs.statSync>[1]) => {
    stats.paths.push(String(file))
    return fs.statSync(file, options)
  }) as typeof fs.statSync
  return {...fs, default: {...fs, statSync}, statSync}
})

// No process has these pids (above pid_max): their /proc entries are those of MemoryFiles only.
const PID = 999_999_990
const OTHER_PID = 999_999_991

/** A symbolizer that sees each pid mapping `file` (with `inode`) at 0x555555555000, from file offset 0x1000. */
function symbolizerOf(file: string, inode: number, pids: number[]): Symbolizer {
  const files = new MemoryFiles()
  for (const pid of pids) files.files.set(`/proc/${pid}/maps`, `555555555000-555555556000 r-xp 00001000 fe:01 ${inode} ${file}`)
  return new Symbolizer(files)
}

describe('mapped files that cannot be seen are looked for once per process (a negative cache)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'diag-symbols-missing-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))
  beforeEach(() => {
    stats.paths.length = 0
  })
  const statsOf = (file: string) => stats.paths.filter((p) => p.endsWith(file)).length

  it('a missing file is stat\'ed on the first interval only, not on every interval nor for every frame', async () => {
    const missing = path.join(dir, 'gone', 'libmissing.so')
    const symbolizer = symbolizerOf(missing, 4242, [PID])
    for (let interval = 0; interval < 5; interval++) {
      expect(await symbolizer.remember(PID)).toBe(true)
      // Frames are still named by file and offset.
      expect(await symbolizer.userFrame(PID, 0x555555555010 + interval)).toBe(`libmissing.so+0x${(0x1010 + interval).toString(16)}`)
    }
    // Its three places, once each: through the process's root and diag's path (by name), its map_files entry (by addresses).
    expect(statsOf('libmissing.so')).toBe(2)
    expect(stats.paths.filter((p) => p.includes('555555555000-555555556000'))).toHaveLength(1)
  })

  it.skipIf(!existsSync(OFFCPU_WORKLOAD))('the miss is per process: another process mapping the file, once it can be seen, is named', async () => {
    const file = path.join(dir, 'diag-offcpu')
    copyFileSync(OFFCPU_WORKLOAD, file)
    const inode = statSync(file).ino
    const nm = (await execa('nm', [file])).stdout
    const sleeper = parseInt(/^([0-9a-f]+) T sleep_in_nanosleep$/m.exec(nm)![1], 16)
    const symbolizer = symbolizerOf(file, inode, [PID, OTHER_PID])

    renameSync(file, `${file}.away`)
    expect(await symbolizer.remember(PID)).toBe(true)
    renameSync(`${file}.away`, file)
    // The first process's miss is kept (no stat again); the second process finds the file.
    stats.paths.length = 0
    expect(await symbolizer.userFrame(PID, 0x555555554000 + sleeper)).toBe(`diag-offcpu+0x${sleeper.toString(16)}`)
    expect(statsOf('diag-offcpu')).toBe(0)
    expect(await symbolizer.remember(OTHER_PID)).toBe(true)
    expect(await symbolizer.userFrame(OTHER_PID, 0x555555554000 + sleeper)).toBe('sleep_in_nanosleep')
  })
})
