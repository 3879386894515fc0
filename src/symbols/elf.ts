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

export class ElfSymbols {
  private constructor(
    readonly path: string,
    private readonly segments: Segment[],
    /** Sorted by address. */
    private readonly functions: FunctionSymbol[],
    /** Which table the names came from. */
    readonly table: '.symtab' | '.dynsym' | 'none',
  ) {}

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
      const segments: Segment[] = []
      const programHeaders = readAt(fd, phoff, phnum * PROGRAM_HEADER_SIZE)
      for (let i = 0; i < phnum; i++) {
        const at = i * PROGRAM_HEADER_SIZE
        if (programHeaders.readUInt32LE(at) !== PT_LOAD) continue
        segments.push({offset: num(programHeaders.readBigUInt64LE(at + 8)), vaddr: num(programHeaders.readBigUInt64LE(at + 16)), filesz: num(programHeaders.readBigUInt64LE(at + 32))})
      }
      const sections = shoff && shnum ? readAt(fd, shoff, shnum * SECTION_HEADER_SIZE) : Buffer.alloc(0)
      const section = (i: number) => ({
        type: sections.readUInt32LE(i * SECTION_HEADER_SIZE + 4),
        offset: num(sections.readBigUInt64LE(i * SECTION_HEADER_SIZE + 24)),
        size: num(sections.readBigUInt64LE(i * SECTION_HEADER_SIZE + 32)),
        link: sections.readUInt32LE(i * SECTION_HEADER_SIZE + 40),
      })
      const all = Array.from({length: sections.length / SECTION_HEADER_SIZE}, (_, i) => section(i))
      const symtab = all.find((s) => s.type === SHT_SYMTAB && s.size > 0) ?? all.find((s) => s.type === SHT_DYNSYM && s.size > 0)
      if (!symtab) return new ElfSymbols(path, segments, [], 'none')
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
      return new ElfSymbols(path, segments, functions, symtab.type === SHT_SYMTAB ? '.symtab' : '.dynsym')
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
