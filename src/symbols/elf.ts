import {closeSync, fstatSync, openSync, readSync} from 'node:fs'

/**
 * Just enough of ELF to name the functions of a mapped file: its loadable segments (to turn a
 * file offset into the file's own addresses) and its function symbols, from .symtab where the
 * file keeps it, else .dynsym (stripped libraries keep only that). 64-bit little-endian only
 * (x86_64, aarch64), what diag traces. Read at the tables' offsets, not the whole file.
 *
 * (The gethostlatency work has a reader of its own for uprobe offsets, src/system/elf.ts on its
 * branch; the two can become one.)
 */

const PT_LOAD = 1
const SHT_SYMTAB = 2
const SHT_DYNSYM = 11
const SHT_NOTE = 7
const NT_GNU_BUILD_ID = 3
/** Notes and the debuglink section are small; anything larger is not what it claims. */
const MAX_NOTE = 64 * 1024
const STT_FUNC = 2
const STT_GNU_IFUNC = 10
const SYM_SIZE = 24
const SECTION_HEADER_SIZE = 64
const PROGRAM_HEADER_SIZE = 56
/** A symbol table larger than this is not read (no real program has one near it). */
const MAX_TABLE = 512 * 1024 * 1024

export class ElfError extends Error {}

interface Segment {
  offset: number
  vaddr: number
  filesz: number
}

export interface DebugIds {
  buildId?: string
  debugLink?: {name: string; crc: number}
}

export interface FunctionSymbol {
  name: string
  address: number
  size: number
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buffer = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, offset + done)
    if (n === 0) throw new ElfError(`truncated at ${offset + done}`)
    done += n
  }
  return buffer
}

const num = (value: bigint) => Number(value)

interface Section {
  name: number
  type: number
  offset: number
  size: number
  link: number
}

/**
 * The build-id (an NT_GNU_BUILD_ID note, "GNU") and the .gnu_debuglink (a file name, padded to
 * 4 bytes, then the CRC-32 of the debug file) of a file, where it has them. Both are read from
 * the file as it is: a malformed one is left out.
 */
function debugIds(fd: number, sections: Section[], shstrndx: number): DebugIds {
  const ids: DebugIds = {}
  for (const note of sections.filter((s) => s.type === SHT_NOTE && s.size <= MAX_NOTE)) {
    const data = readAt(fd, note.offset, note.size)
    for (let at = 0; at + 12 <= data.length; ) {
      const nameSize = data.readUInt32LE(at)
      const descSize = data.readUInt32LE(at + 4)
      const type = data.readUInt32LE(at + 8)
      const descAt = at + 12 + align4(nameSize)
      if (descAt + descSize > data.length) break
      if (type === NT_GNU_BUILD_ID && data.toString('latin1', at + 12, at + 12 + nameSize) === 'GNU\0' && descSize > 0) {
        ids.buildId = data.toString('hex', descAt, descAt + descSize)
      }
      at = descAt + align4(descSize)
    }
  }
  const names = sections[shstrndx]
  if (!names || names.size > MAX_TABLE) return ids
  const nameTable = readAt(fd, names.offset, names.size)
  const link = sections.find((s) => nameTable.toString('latin1', s.name, s.name + 15) === '.gnu_debuglink\0')
  if (link && link.size >= 8 && link.size <= MAX_NOTE) {
    const data = readAt(fd, link.offset, link.size)
    const end = data.indexOf(0)
    const crcAt = align4(end + 1)
    if (end > 0 && crcAt + 4 <= data.length) ids.debugLink = {name: data.toString('utf8', 0, end), crc: data.readUInt32LE(crcAt)}
  }
  return ids
}

const align4 = (n: number) => (n + 3) & ~3

export class ElfSymbols {
  private constructor(
    readonly path: string,
    private readonly segments: Segment[],
    /** Sorted by address. */
    private readonly functions: FunctionSymbol[],
    /** Which table the names came from. */
    readonly table: '.symtab' | '.dynsym' | 'none',
    /** What names the separate debug file (gdb's lookups): the GNU build-id (hex), and the .gnu_debuglink. */
    readonly ids: DebugIds = {},
  ) {}

  /**
   * This file's layout with the names of its separate debug file: the debug file's symbol values
   * are moved by the difference of the two files' first loadable segments (0 but for a prelinked
   * file), so the load bias of the mapped file applies to them.
   */
  withSymbolsOf(debug: ElfSymbols): ElfSymbols {
    const shift = (this.segments[0]?.vaddr ?? 0) - (debug.segments[0]?.vaddr ?? 0)
    const functions = debug.functions.map((f) => ({...f, address: f.address + shift}))
    return new ElfSymbols(this.path, this.segments, functions, debug.table, this.ids)
  }

  static read(path: string): ElfSymbols {
    const fd = openSync(path, 'r')
    try {
      if (!fstatSync(fd).isFile()) throw new ElfError(`${path} is not a regular file`)
      const header = readAt(fd, 0, 64)
      if (header.readUInt32BE(0) !== 0x7f454c46) throw new ElfError(`${path} is not ELF`)
      if (header[4] !== 2 || header[5] !== 1) throw new ElfError(`${path} is not 64-bit little-endian ELF`)
      const phoff = num(header.readBigUInt64LE(32))
      const shoff = num(header.readBigUInt64LE(40))
      const phnum = header.readUInt16LE(56)
      const shnum = header.readUInt16LE(60)
      const shstrndx = header.readUInt16LE(62)
      const segments: Segment[] = []
      const programHeaders = readAt(fd, phoff, phnum * PROGRAM_HEADER_SIZE)
      for (let i = 0; i < phnum; i++) {
        const at = i * PROGRAM_HEADER_SIZE
        if (programHeaders.readUInt32LE(at) !== PT_LOAD) continue
        segments.push({offset: num(programHeaders.readBigUInt64LE(at + 8)), vaddr: num(programHeaders.readBigUInt64LE(at + 16)), filesz: num(programHeaders.readBigUInt64LE(at + 32))})
      }
      const sections = shoff && shnum ? readAt(fd, shoff, shnum * SECTION_HEADER_SIZE) : Buffer.alloc(0)
      const section = (i: number): Section => ({
        name: sections.readUInt32LE(i * SECTION_HEADER_SIZE),
        type: sections.readUInt32LE(i * SECTION_HEADER_SIZE + 4),
        offset: num(sections.readBigUInt64LE(i * SECTION_HEADER_SIZE + 24)),
        size: num(sections.readBigUInt64LE(i * SECTION_HEADER_SIZE + 32)),
        link: sections.readUInt32LE(i * SECTION_HEADER_SIZE + 40),
      })
      const all = Array.from({length: sections.length / SECTION_HEADER_SIZE}, (_, i) => section(i))
      const ids = debugIds(fd, all, shstrndx)
      const symtab = all.find((s) => s.type === SHT_SYMTAB && s.size > 0) ?? all.find((s) => s.type === SHT_DYNSYM && s.size > 0)
      if (!symtab) return new ElfSymbols(path, segments, [], 'none', ids)
      const strtab = all[symtab.link]
      if (!strtab || symtab.size > MAX_TABLE || strtab.size > MAX_TABLE) throw new ElfError(`${path}: symbol table out of bounds`)
      const symbols = readAt(fd, symtab.offset, symtab.size)
      const strings = readAt(fd, strtab.offset, strtab.size)
      const functions: FunctionSymbol[] = []
      for (let at = 0; at + SYM_SIZE <= symbols.length; at += SYM_SIZE) {
        const type = symbols[at + 4] & 0xf
        const shndx = symbols.readUInt16LE(at + 6)
        const address = num(symbols.readBigUInt64LE(at + 8))
        if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || shndx === 0 || address === 0) continue
        const nameAt = symbols.readUInt32LE(at)
        const end = strings.indexOf(0, nameAt)
        const name = strings.toString('utf8', nameAt, end < 0 ? strings.length : end)
        if (name) functions.push({name: name.replace(/@.*$/, ''), address, size: num(symbols.readBigUInt64LE(at + 16))})
      }
      // At one address the sized symbol wins (an alias of size 0 says less).
      functions.sort((a, b) => a.address - b.address || b.size - a.size)
      return new ElfSymbols(path, segments, functions, symtab.type === SHT_SYMTAB ? '.symtab' : '.dynsym', ids)
    } finally {
      closeSync(fd)
    }
  }

  /** The address in the file's own layout (its symbols' values) of this offset in the file. */
  addressOfOffset(fileOffset: number): number | undefined {
    const segment = this.segments.find((s) => fileOffset >= s.offset && fileOffset < s.offset + s.filesz)
    return segment && fileOffset - segment.offset + segment.vaddr
  }

  /** The function whose code holds this address (of the file's layout), if a symbol says so. */
  functionAt(address: number): FunctionSymbol | undefined {
    let low = 0
    let high = this.functions.length - 1
    let found = -1
    while (low <= high) {
      const middle = (low + high) >> 1
      if (this.functions[middle].address <= address) {
        found = middle
        low = middle + 1
      } else {
        high = middle - 1
      }
    }
    if (found < 0) return undefined
    // The nearest symbol at or below; with a size, the address must fall inside it.
    for (let i = found; i >= 0 && this.functions[i].address === this.functions[found].address; i--) {
      const f = this.functions[i]
      if (f.size === 0 || address < f.address + f.size) return f
    }
    return undefined
  }
}
