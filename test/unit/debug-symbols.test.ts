import {appendFileSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {gzipCrc32} from '../helpers/crc.js'

import {findDebugFile} from '../../src/symbols/debug-files.js'
import {ElfSymbols} from '../../src/symbols/elf.js'
import {PerfMap, parsePerfMap} from '../../src/symbols/perf-map.js'
import {Symbolizer, UNKNOWN} from '../../src/symbols/symbolizer.js'
import {type StrippedFixture, buildStrippedFixture, executableMaps, place} from '../helpers/elf-fixtures.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {isRoot} from '../helpers/kernel-state.js'

// No process has this pid (above pid_max): its /proc entries are those of MemoryFiles only.
const PID = 999_999_999
const BASE = 0x555555554000
const uid = process.geteuid?.() ?? 0

/** A symbolizer that sees process PID mapping `file` at BASE, with this `debugRoot` and `perfMapDir`. */
async function symbolizerFor(file: string, options: {debugRoot?: string; perfMapDir?: string; extraMaps?: string} = {}): Promise<Symbolizer> {
  const files = new MemoryFiles()
  const maps = await executableMaps(file, BASE, statSync(file).ino)
  files.files.set(`/proc/${PID}/maps`, [maps, options.extraMaps ?? ''].join('\n'))
  files.files.set(`/proc/${PID}/status`, `Name:\tprog\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`)
  const symbolizer = new Symbolizer(files, options)
  expect(await symbolizer.remember(PID)).toBe(true)
  return symbolizer
}

describe('separate debug files of stripped programs (gdb\'s lookups)', () => {
  let work: string
  let withId: StrippedFixture
  let otherId: StrippedFixture
  let linkOnly: StrippedFixture

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'diag-debug-'))
    withId = await buildStrippedFixture({buildId: 'sha1', parent: work})
    // The same program built another way: another build-id, other addresses.
    otherId = await buildStrippedFixture({buildId: '0x0123456789abcdef0123456789abcdef01234567', parent: work, cflags: ['-O0']})
    linkOnly = await buildStrippedFixture({buildId: 'none', parent: work})
  }, 60_000)
  afterAll(() => rmSync(work, {recursive: true, force: true}))

  /** `file` alone in a new directory (no debug file beside it). */
  const alone = (file: string, name = 'prog.stripped') => {
    const dir = mkdtempSync(path.join(work, 'alone-'))
    copyFileSync(file, path.join(dir, name))
    return path.join(dir, name)
  }
  const emptyRoot = () => mkdtempSync(path.join(work, 'root-'))
  const live = (fixture: StrippedFixture) => BASE + fixture.address + 4

  it('reads the build-id note and the .gnu_debuglink (name and the debug file\'s CRC-32)', () => {
    const elf = ElfSymbols.read(withId.stripped)
    expect(elf.table).toBe('.dynsym')
    expect(elf.ids.buildId).toBe(withId.buildId)
    expect(elf.ids.debugLink).toEqual({name: 'prog.debug', crc: gzipCrc32(withId.debug)})
    expect(ElfSymbols.read(linkOnly.stripped).ids.buildId).toBeUndefined()
    expect(ElfSymbols.read(withId.full).ids.debugLink).toBeUndefined()
  })

  it('without a debug file, a stripped program\'s own function is file+0xOFFSET, never dropped or misnamed', async () => {
    const file = alone(withId.stripped)
    const symbols = await symbolizerFor(file, {debugRoot: emptyRoot()})
    expect(await symbols.userFrame(PID, live(withId))).toBe(`prog.stripped+0x${(withId.address + 4).toString(16)}`)
  })

  it('finds the debug file by build-id under the debug root, and names the function with the load bias', async () => {
    const root = emptyRoot()
    place(withId.debug, path.join(root, '.build-id', withId.buildId!.slice(0, 2), `${withId.buildId!.slice(2)}.debug`))
    const file = alone(withId.stripped)
    const symbols = await symbolizerFor(file, {debugRoot: root})
    expect(await symbols.userFrame(PID, live(withId))).toBe('only_in_symtab')
    expect(await symbols.userFrame(PID, BASE + withId.address)).toBe('only_in_symtab')
  })

  it('refuses a debug file at the build-id path whose own build-id differs', async () => {
    const root = emptyRoot()
    place(otherId.debug, path.join(root, '.build-id', withId.buildId!.slice(0, 2), `${withId.buildId!.slice(2)}.debug`))
    const elf = ElfSymbols.read(alone(withId.stripped))
    expect(findDebugFile(elf, elf.path, elf.path, root)).toBeUndefined()
  })

  it('finds the debug file by debuglink: beside the file, in its .debug/ directory, under the debug root', async () => {
    // Beside it (as built).
    const beside = await symbolizerFor(linkOnly.stripped, {debugRoot: emptyRoot()})
    expect(await beside.userFrame(PID, live(linkOnly))).toBe('only_in_symtab')
    // In .debug/.
    const file = alone(linkOnly.stripped)
    place(linkOnly.debug, path.join(path.dirname(file), '.debug', 'prog.debug'))
    expect(await (await symbolizerFor(file, {debugRoot: emptyRoot()})).userFrame(PID, live(linkOnly))).toBe('only_in_symtab')
    // Under ROOT/<the file's directory>/.
    const root = emptyRoot()
    const other = alone(linkOnly.stripped)
    place(linkOnly.debug, path.join(root, path.dirname(other), 'prog.debug'))
    const symbols = await symbolizerFor(other, {debugRoot: root})
    expect(await symbols.userFrame(PID, live(linkOnly))).toBe('only_in_symtab')
  })

  it('refuses a debuglink target whose CRC differs (another build, or a changed file)', async () => {
    const file = alone(linkOnly.stripped)
    const debug = path.join(path.dirname(file), 'prog.debug')
    copyFileSync(linkOnly.debug, debug)
    appendFileSync(debug, 'x')
    const symbols = await symbolizerFor(file, {debugRoot: emptyRoot()})
    expect(await symbols.userFrame(PID, live(linkOnly))).toMatch(/^prog\.stripped\+0x[0-9a-f]+$/)
  })

  // A program deleted (or rebuilt) once it exited: its symbols were read while it lived.
  it('keeps the names of a file deleted after the process was seen', async () => {
    const file = alone(withId.full, 'prog')
    const symbols = await symbolizerFor(file)
    rmSync(file)
    expect(await symbols.userFrame(PID, live(withId))).toBe('only_in_symtab')
  })
})

describe('JIT maps (/tmp/perf-PID.map)', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'diag-perfmap-'))
  })
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  const JIT = 0x3a7e00000000
  const anonymous = `${JIT.toString(16)}-${(JIT + 0x100000).toString(16)} r-xp 00000000 00:00 0 `

  it('parses START SIZE name lines (hex), skipping malformed ones and taking control characters out of names', () => {
    expect(parsePerfMap('3a7e00000100 40 LazyCompile:*hot /app/x.js:3\nnot a line\n3a7e00000200 zz bad\n3a7e00000300 10 evil\u001B[31mred\r\n')).toEqual([
      {start: 0x3a7e00000100, size: 0x40, name: 'LazyCompile:*hot /app/x.js:3'},
      {start: 0x3a7e00000300, size: 0x10, name: 'evil [31mred'},
    ])
  })

  it('names frames in anonymous executable memory from the map, the latest line for code at one start; others stay [unknown]', async () => {
    writeFileSync(path.join(dir, `perf-${PID}.map`), `${(JIT + 0x100).toString(16)} 40 JS:*old\n${(JIT + 0x100).toString(16)} 40 JS:*hotLoop\n`)
    const symbols = await symbolizerFor(process.execPath, {perfMapDir: dir, extraMaps: anonymous})
    expect(await symbols.userFrame(PID, JIT + 0x120)).toBe('JS:*hotLoop')
    expect(await symbols.userFrame(PID, JIT + 0x200)).toBe(UNKNOWN)
    // Written after the maps were read (the file outlives the process): read again on a miss.
    appendFileSync(path.join(dir, `perf-${PID}.map`), `${(JIT + 0x200).toString(16)} 10 JS:*later\n`)
    expect(await symbols.userFrame(PID, JIT + 0x208)).toBe('JS:*later')
  })

  it.skipIf(!isRoot)('believes a map only when the traced process\'s user owns it, and never through a symbolic link', async () => {
    const owned = path.join(dir, 'owned')
    mkdirSync(owned)
    const map = path.join(owned, `perf-${PID}.map`)
    writeFileSync(map, `${(JIT + 0x100).toString(16)} 40 JS:*planted\n`)
    chownSync(map, 12345, 12345)
    expect(PerfMap.read(map, uid)).toBeUndefined()
    expect(await (await symbolizerFor(process.execPath, {perfMapDir: owned, extraMaps: anonymous})).userFrame(PID, JIT + 0x120)).toBe(UNKNOWN)
    const linked = path.join(dir, 'linked')
    mkdirSync(linked)
    chownSync(map, uid, uid)
    symlinkSync(map, path.join(linked, `perf-${PID}.map`))
    expect(PerfMap.read(path.join(linked, `perf-${PID}.map`), uid)).toBeUndefined()
    expect(PerfMap.read(map, uid)?.lookup(JIT + 0x120)).toBe('JS:*planted')
  })
})
