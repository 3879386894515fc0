import {type FileHandle, open} from 'node:fs/promises'

/**
 * Just enough of ELF to put a uprobe on a shared library's function: the file offset of a dynamic
 * symbol (.dynsym, whose default version wins where a name has several), the program interpreter
 * and the DT_NEEDED libraries. Written here rather than taken from npm: the ELF readers there are
 * either unmaintained for years (elfy) or read and model the whole file (elf-tools), where this
 * needs three tables read at their offsets; 64-bit little-endian only (x86_64, aarch64), which is
 * what diag traces.
 */

const PT_LOAD = 1
const PT_DYNAMIC = 2
const PT_INTERP = 3
const SHT_DYNSYM = 11
const SHT_GNU_VERSYM = 0x6fffffff
const STT_FUNC = 2
const STT_GNU_IFUNC = 10
const DT_NEEDED = 1
const DT_STRTAB = 5
const VERSYM_HIDDEN = 0x8000
const SYM_SIZE = 24
/** e_machine values diag knows, for messages and the uprobe argument registers. */
export const ELF_MACHINES: Record<number, string> = {62: 'x86_64', 183: 'aarch64'}

export class ElfError extends Error {}

export interface ElfSymbol {
  name: string
  /** Its address in the file's own layout (st_value). */
  address: bigint
  /** Where its code is in the file: what uprobe_events and libbpf take. */
  fileOffset: bigint
  /** A GNU indirect function: its address is the resolver's, not the code's that runs. */
  indirect: boolean
}

export interface ElfFile {
  path: string
  /** e_machine, e.g. 62 for x86_64. */
  machine: number
  /** ET_EXEC 2, ET_DYN 3. */
  type: number
  /** The program interpreter (PT_INTERP), absent in a statically linked program or a library. */
  interpreter?: string
  /** The libraries it needs by soname (DT_NEEDED). */
  needed: string[]
  /** The defined functions of `names` found in .dynsym. */
  symbols: Map<string, ElfSymbol>
}

interface Segment {
  type: number
  offset: bigint
  vaddr: bigint
  filesz: bigint
}

async function readAt(file: FileHandle, offset: bigint, length: number, partial = false): Promise<Buffer> {
  const buffer = Buffer.alloc(length)
  const {bytesRead} = await file.read(buffer, 0, length, Number(offset))
  if (bytesRead < length && !partial) throw new ElfError(`truncated at offset ${offset}`)
  return buffer.subarray(0, bytesRead)
}

function cString(buffer: Buffer, at: number): string {
  const end = buffer.indexOf(0, at)
  return buffer.toString('latin1', at, end < 0 ? buffer.length : end)
}

/** The file offset of an address, through the loadable segment that maps it. */
function toFileOffset(segments: Segment[], address: bigint): bigint | undefined {
  const segment = segments.find((s) => s.type === PT_LOAD && address >= s.vaddr && address < s.vaddr + s.filesz)
  return segment && address - segment.vaddr + segment.offset
}

/** Reads an ELF file's interpreter, needed libraries and the named dynamic functions it defines. */
export async function readElf(path: string, names: readonly string[] = []): Promise<ElfFile> {
  const file = await open(path, 'r')
  try {
    const header = await readAt(file, 0n, 64).catch(() => {
      throw new ElfError(`${path} is not an ELF file (too short)`)
    })
    if (header.readUInt32BE(0) !== 0x7f454c46) throw new ElfError(`${path} is not an ELF file`)
    if (header[4] !== 2 || header[5] !== 1) throw new ElfError(`${path} is not a 64-bit little-endian ELF file`)
    const type = header.readUInt16LE(16)
    const machine = header.readUInt16LE(18)
    const phoff = header.readBigUInt64LE(32)
    const shoff = header.readBigUInt64LE(40)
    const [phentsize, phnum, shentsize, shnum] = [54, 56, 58, 60].map((at) => header.readUInt16LE(at))

    const segments: Segment[] = []
    const table = phnum ? await readAt(file, phoff, phentsize * phnum) : Buffer.alloc(0)
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize
      segments.push({type: table.readUInt32LE(at), offset: table.readBigUInt64LE(at + 8), vaddr: table.readBigUInt64LE(at + 16), filesz: table.readBigUInt64LE(at + 32)})
    }
    const interp = segments.find((s) => s.type === PT_INTERP)
    const interpreter = interp ? cString(await readAt(file, interp.offset, Number(interp.filesz)), 0) : undefined
    const needed = await neededLibraries(file, segments)

    const symbols = new Map<string, ElfSymbol>()
    if (names.length > 0 && shnum > 0) {
      const sections = await readAt(file, shoff, shentsize * shnum)
      const section = (i: number) => ({
        type: sections.readUInt32LE(i * shentsize + 4),
        offset: sections.readBigUInt64LE(i * shentsize + 24),
        size: sections.readBigUInt64LE(i * shentsize + 32),
        link: sections.readUInt32LE(i * shentsize + 40),
      })
      const all = Array.from({length: shnum}, (_, i) => section(i))
      const dynsym = all.find((s) => s.type === SHT_DYNSYM)
      if (dynsym) {
        const strtab = all[dynsym.link]
        const syms = await readAt(file, dynsym.offset, Number(dynsym.size))
        const strings = await readAt(file, strtab.offset, Number(strtab.size))
        const versymSection = all.find((s) => s.type === SHT_GNU_VERSYM)
        const versym = versymSection ? await readAt(file, versymSection.offset, Number(versymSection.size)) : undefined
        const wanted = new Set(names)
        for (let i = 0; i * SYM_SIZE < syms.length; i++) {
          const at = i * SYM_SIZE
          const name = cString(strings, syms.readUInt32LE(at))
          if (!wanted.has(name)) continue
          const kind = syms[at + 4] & 0xf
          const shndx = syms.readUInt16LE(at + 6)
          const address = syms.readBigUInt64LE(at + 8)
          if (shndx === 0 || address === 0n || (kind !== STT_FUNC && kind !== STT_GNU_IFUNC)) continue
          // An old version kept for binaries linked long ago is hidden; the default one is not.
          const hidden = versym ? (versym.readUInt16LE(i * 2) & VERSYM_HIDDEN) !== 0 : false
          if (hidden && symbols.has(name)) continue
          const fileOffset = toFileOffset(segments, address)
          if (fileOffset === undefined) continue
          if (!hidden || !symbols.has(name)) symbols.set(name, {name, address, fileOffset, indirect: kind === STT_GNU_IFUNC})
        }
      }
    }
    return {path, machine, type, interpreter, needed, symbols}
  } finally {
    await file.close()
  }
}

/** DT_NEEDED names from the dynamic segment, their strings in DT_STRTAB (an address, mapped to the file). */
async function neededLibraries(file: FileHandle, segments: Segment[]): Promise<string[]> {
  const dynamic = segments.find((s) => s.type === PT_DYNAMIC)
  if (!dynamic) return []
  const entries = await readAt(file, dynamic.offset, Number(dynamic.filesz))
  const offsets: bigint[] = []
  let strtab: bigint | undefined
  for (let at = 0; at + 16 <= entries.length; at += 16) {
    const tag = entries.readBigInt64LE(at)
    const value = entries.readBigUInt64LE(at + 8)
    if (tag === 0n) break
    if (tag === BigInt(DT_NEEDED)) offsets.push(value)
    if (tag === BigInt(DT_STRTAB)) strtab = value
  }
  const strtabOffset = strtab === undefined ? undefined : toFileOffset(segments, strtab)
  if (strtabOffset === undefined) return []
  const names: string[] = []
  for (const offset of offsets) names.push(cString(await readAt(file, strtabOffset + offset, 256, true), 0))
  return names.filter(Boolean)
}
