import {statSync} from 'node:fs'
import path from 'node:path'

import type {HostFiles} from '../system/files.js'
import {DEFAULT_DEBUG_ROOT, findDebugFile} from './debug-files.js'
import {ElfSymbols} from './elf.js'
import {KernelSymbols} from './kallsyms.js'
import {PerfMap} from './perf-map.js'
import {type Mapping, mappingAt, parseMaps, sameFile} from './process-maps.js'

/** A frame no table names. */
export const UNKNOWN = '[unknown]'

/** A process's executable mappings, read while it lived. */
interface ProcessImage {
  mappings: Mapping[]
  /** Its effective uid, the owner its JIT map must have to be believed. */
  uid?: number
  /** Its JIT map (/tmp/perf-PID.map), as last read. */
  perfMap?: PerfMap
  /** The program it ran when its maps were read (programOf): another one means it exec'd since. */
  executable?: string
  /** Its name then (the comm of its main thread), which a stack key names too. */
  comm?: string
}

/** The programs a process may have run in turn (exec) that are kept: each a few mappings. */
const PROGRAMS_KEPT = 4

/**
 * The program a process runs, as its executable's device and inode; undefined once it is gone, or
 * where diag may not look (another user namespace, a security module: EACCES).
 */
function programOf(tgid: number): string | undefined {
  try {
    const stat = statSync(`/proc/${tgid}/exe`, {throwIfNoEntry: false})
    return stat && `${stat.dev}:${stat.ino}`
  } catch {
    return undefined
  }
}

export interface SymbolizerOptions {
  /** Where separate debug files are looked up (`.build-id/`, debuglink paths); /usr/lib/debug. */
  debugRoot?: string
  /** Where JITs write their maps (`perf-PID.map`); /tmp. */
  perfMapDir?: string
  /** The program a process runs (its /proc/PID/exe's device and inode), for tests to fake. */
  programOf?: (tgid: number) => string | undefined
}

/**
 * Names stack frames, kernel and user, in one place for every tool that shows stacks. Kernel
 * addresses from /proc/kallsyms (read on first use, once per run); user addresses from the
 * process's /proc/PID/maps and the symbol tables of the mapped files, with the load bias: the
 * file's .symtab, else that of its separate debug file (build-id or debuglink, under /usr/lib/debug),
 * else its .dynsym; code in anonymous memory from the process's JIT map (/tmp/perf-PID.map). A
 * process's maps and files must be read while it lives (remember()), so that its frames keep their
 * names after it exits. A frame is never dropped: one no table names is `module+0xOFFSET` (the
 * file offset, which addr2line and objdump take) or `[unknown]`.
 */
/** Mapped files up to this size are read as soon as their process is seen. */
const EAGER_READ_BYTES = 16 * 2 ** 20

/** A mapped file's key among those read: its device and inode, and its path. */
const elfKey = (mapping: Mapping) => `${mapping.device}:${mapping.inode}:${mappedPath(mapping)}`

/** A mapped file's path without the " (deleted)" the kernel appends to a file removed since. */
const mappedPath = (mapping: Mapping) => mapping.path.replace(/ \(deleted\)$/, '')

/** A mapping of one process as a key: where it can be opened depends on the process and the mapping's addresses (placesOf). */
const placesKey = (mapping: Mapping, tgid: number) => `${tgid}:${mapping.start.toString(16)}-${mapping.end.toString(16)}:${elfKey(mapping)}`

/**
 * Where a mapped file may be opened, best first: through the process's own root, its map_files
 * entry (a file deleted since it was mapped), then diag's path of the same name.
 */
function placesOf(mapping: Mapping, tgid: number): string[] {
  const file = mappedPath(mapping)
  return [path.join(`/proc/${tgid}/root`, file), `/proc/${tgid}/map_files/${mapping.start.toString(16)}-${mapping.end.toString(16)}`, file]
}

/** The size of a mapped file, through the first of its places that can be seen; undefined when none can. */
function mappedFileSize(mapping: Mapping, tgid: number): number | undefined {
  for (const place of placesOf(mapping, tgid)) {
    try {
      const size = statSync(place, {throwIfNoEntry: false})?.size
      if (size !== undefined) return size
    } catch {
      // A place diag may not look at (EACCES: another process's root): the next one.
    }
  }
  return undefined
}

export class Symbolizer {
  private kernel: KernelSymbols | undefined
  /** Each process's images, one per program it ran (exec), the latest last. */
  private readonly processes = new Map<number, ProcessImage[]>()
  private readonly elves = new Map<string, ElfSymbols | null>()
  /**
   * Mappings (placesKey) whose file none of their places showed: not looked for again, for they
   * would be stat'ed on every interval (remember) and every frame in them (userFrame) to no end.
   * Per process, as elf() says: another process mapping the same file may still show it.
   */
  private readonly unseen = new Set<string>()

  private readonly debugRoot: string
  private readonly perfMapDir: string
  private readonly programOf: (tgid: number) => string | undefined

  constructor(
    private readonly files: HostFiles,
    options: SymbolizerOptions = {},
  ) {
    this.debugRoot = options.debugRoot ?? DEFAULT_DEBUG_ROOT
    this.perfMapDir = options.perfMapDir ?? '/tmp'
    this.programOf = options.programOf ?? programOf
  }

  private async kernelSymbols(): Promise<KernelSymbols> {
    this.kernel ??= KernelSymbols.parse(await this.files.read('/proc/kallsyms').catch(() => ''))
    return this.kernel
  }

  async kernelFrame(address: bigint): Promise<string> {
    return (await this.kernelSymbols()).lookup(address) ?? UNKNOWN
  }

  /** A kernel frame with its offset into the function, as the kernel prints stacks: `tcp_v4_rcv+0x9c7`. */
  async kernelFrameWithOffset(address: bigint): Promise<string> {
    return (await this.kernelSymbols()).lookupWithOffset(address) ?? UNKNOWN
  }

  /** Whether the kernel has this function in kallsyms (a kprobe's target). */
  async kernelHas(name: string): Promise<boolean> {
    return (await this.kernelSymbols()).has(name)
  }

  /**
   * Whether kernel addresses can be named here: false when /proc/kallsyms shows every address
   * as 0 (kernel.kptr_restrict, or a reader without CAP_SYSLOG).
   */
  async kernelAddressesVisible(): Promise<boolean> {
    return (await this.kernelSymbols()).size > 0
  }

  /**
   * Whether the process, still alive, runs another program than when its maps were read: it
   * exec'd since, and its frames can only be named from maps read again (remember()).
   */
  execedSince(tgid: number): boolean {
    const image = this.processes.get(tgid)?.at(-1)
    const now = this.programOf(tgid)
    return image !== undefined && now !== undefined && now !== image.executable
  }

  /**
   * Reads (again) a live process's mappings, and the symbols of the files it maps (a file may be
   * deleted or replaced once it exits), and its JIT map; returns false when it is gone (what was
   * read before is kept). Call for each process seen, while it may still live.
   */
  async remember(tgid: number): Promise<boolean> {
    // Before the maps: an exec in between then shows as one since (execedSince), never unseen.
    const executable = this.programOf(tgid)
    let text: string
    let status: string
    try {
      text = await this.files.read(`/proc/${tgid}/maps`)
      status = await this.files.read(`/proc/${tgid}/status`).catch(() => '')
    } catch {
      return false
    }
    const mappings = parseMaps(text).filter((m) => m.executable)
    // A zombie's maps are empty: keep what was read while it lived.
    if (mappings.length === 0) return false
    // "Uid:\treal\teffective\tsaved\tfs", "Name:\tcomm"
    const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1]
    const comm = /^Name:\t(.*)$/m.exec(status)?.[1]
    const image: ProcessImage = {mappings, ...(uid === undefined ? {} : {uid: Number(uid)}), ...(executable === undefined ? {} : {executable}), ...(comm === undefined ? {} : {comm})}
    // Small files are read now, so that a program deleted once it has exited keeps its names. Large
    // ones (node, a browser) are read when a frame needs them, from their path (the same file only
    // with the same inode): reading them here would hold up the reading of other new processes,
    // which may live only a few milliseconds.
    for (const mapping of mappings) {
      if (!mapping.path.startsWith('/') || this.elves.has(elfKey(mapping)) || this.unseen.has(placesKey(mapping, tgid))) continue
      const size = mappedFileSize(mapping, tgid)
      if (size === undefined) this.unseen.add(placesKey(mapping, tgid))
      else if (size <= EAGER_READ_BYTES) this.elf(mapping, tgid)
    }
    // The same program read again replaces its image; another one (an exec since) is added, so
    // that the stacks taken before the exec keep their names.
    const images = this.processes.get(tgid) ?? []
    const sameProgram = images.length > 0 && images.at(-1)!.executable === image.executable
    if (sameProgram) image.perfMap = images.at(-1)!.perfMap
    image.perfMap = this.readPerfMap(tgid, image)
    if (sameProgram) images[images.length - 1] = image
    else images.push(image)
    this.processes.set(tgid, images.slice(-PROGRAMS_KEPT))
    return true
  }

  private readPerfMap(tgid: number, image: ProcessImage): PerfMap | undefined {
    if (image.uid === undefined) return image.perfMap
    return PerfMap.read(path.join(this.perfMapDir, `perf-${tgid}.map`), image.uid, image.perfMap) ?? image.perfMap
  }

  /** A frame in anonymous memory (or memory mapped since the maps were read), from the JIT map. */
  private jitFrame(tgid: number, image: ProcessImage, address: number): string | undefined {
    const name = image.perfMap?.lookup(address)
    if (name) return name
    // The JIT may have written more since (the file outlives the process).
    const again = this.readPerfMap(tgid, image)
    if (again === image.perfMap) return undefined
    image.perfMap = again
    return again?.lookup(address)
  }

  /**
   * The symbols of a mapped file, by its device and inode as well as its path: two containers'
   * libc.so.6 at one path are two files. Read while the process lives (remember()): through the
   * process's own root, else its map_files entry (a file deleted since it was mapped), else
   * diag's path of the same name when that is the same file; otherwise none (frames then show the
   * file and offset, never another file's names). A stripped file takes the .symtab of its
   * separate debug file where there is one.
   */
  private elf(mapping: Mapping, tgid: number): ElfSymbols | null {
    const file = mappedPath(mapping)
    const known = this.elves.get(elfKey(mapping))
    if (known !== undefined) return known
    if (this.unseen.has(placesKey(mapping, tgid))) return null
    let elf: ElfSymbols | null = null
    const places = placesOf(mapping, tgid)
    const found = sameFile(places, mapping.inode)
    // Not found (the process gone, or another file at its path): asked again only while another process maps it.
    if (!found) {
      this.unseen.add(placesKey(mapping, tgid))
      return null
    }
    try {
      elf = ElfSymbols.read(found)
      if (elf.table !== '.symtab') {
        // A map_files entry has no directory of its own: debug files are looked for beside the path.
        const opened = found === places[1] ? file : found
        const debug = findDebugFile(elf, opened, file, this.debugRoot)
        if (debug) elf = elf.withSymbolsOf(debug)
      }
    } catch {
      // Not ELF: no names.
    }
    this.elves.set(elfKey(mapping), elf)
    return elf
  }

  /** The image userFrame names a frame from; most processes have one, so this is not copied per frame. */
  private imageOf(tgid: number, address: number, comm: string | undefined): ProcessImage | undefined {
    const images = this.processes.get(tgid)
    if (!images || images.length < 2) return images?.[0]
    const newestFirst = (match: (image: ProcessImage) => boolean) => {
      for (let i = images.length - 1; i >= 0; i--) if (match(images[i])) return images[i]
      return undefined
    }
    return newestFirst((i) => comm !== undefined && i.comm === comm) ?? newestFirst((i) => mappingAt(i.mappings, address) !== undefined) ?? images.at(-1)
  }

  /**
   * A user frame's name. `comm`, the name of the thread the stack was taken in, picks the program
   * of a process that exec'd: the latest one its main thread had that name in; else (a thread of
   * its own name) the latest that maps the address; else the latest.
   */
  async userFrame(tgid: number, address: number, comm?: string): Promise<string> {
    const image = this.imageOf(tgid, address, comm)
    if (!image) return UNKNOWN
    const mapping = mappingAt(image.mappings, address)
    if (!mapping || !mapping.path || mapping.path.startsWith('[anon')) {
      const jit = this.jitFrame(tgid, image, address)
      if (jit) return jit
    }
    if (!mapping) return UNKNOWN
    if (!mapping.path.startsWith('/')) return mapping.path ? `${mapping.path}+0x${(address - mapping.start).toString(16)}` : UNKNOWN
    const fileOffset = address - mapping.start + mapping.offset
    const elf = this.elf(mapping, tgid)
    const inFile = elf?.addressOfOffset(fileOffset)
    const symbol = inFile === undefined ? undefined : elf!.functionAt(inFile)
    return symbol ? symbol.name : `${path.basename(mapping.path)}+0x${fileOffset.toString(16)}`
  }
}
