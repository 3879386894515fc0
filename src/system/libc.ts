import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {BadInputError, NotSupportedError} from '../errors.js'
import {ELF_MACHINES, type ElfFile, readElf} from './elf.js'
import {readTextToEnd} from './files.js'
import {mappedFiles, sameFile} from '../symbols/process-maps.js'
import {BINARY_PATH} from '../tracefs/names.js'

/**
 * Which libc a process uses (or will use), and where its name-lookup functions are in the file:
 * what a uprobe needs. Found, never assumed: from the process's own mappings (/proc/PID/maps),
 * from the program's needed libc through the dynamic loader's cache (/etc/ld.so.cache) for a
 * command not yet started, and for the whole system from that cache, else the libc diag itself
 * runs on.
 */

export const LOOKUP_FUNCTIONS = ['getaddrinfo', 'gethostbyname', 'gethostbyname2'] as const
export type LookupFunction = (typeof LOOKUP_FUNCTIONS)[number]


export const LOADER_CACHE = '/etc/ld.so.cache'

const MACHINE: Record<string, number> = {x64: 62, arm64: 183}

export interface LibcFunction {
  name: LookupFunction
  /** Offset of its first instruction in the file (what uprobe_events and libbpf take). */
  offset: bigint
}

export interface Libc {
  path: string
  /** How it was found, for the result's attach line and for messages. */
  source: string
  /** The lookup functions it defines; at least one. */
  functions: LibcFunction[]
}

export interface LibcQuery {
  /** A running process: the libc it maps. */
  pid?: number
  /** A program about to run (a traced command, resolved on PATH): the libc it will load. */
  program?: string
  /** --libc: this file, as the operator named it. */
  libc?: string
}

/** glibc's libc.so.6 (and libc-2.x.so), musl's libc.so, and musl's loader, which is its libc. */
export const isLibcName = (file: string): boolean => /^(libc[.-].*so|libc\.so|ld-musl-.*\.so)/.test(path.basename(file))

/**
 * The (soname, path) entries of the dynamic loader's cache, in its order. The format (glibc
 * 2.32+ writes only it, older ones write it after the old one): "glibc-ld.so.cache1.1", a
 * 48-byte header whose word at 20 counts the entries, then 24-byte entries (flags, key, value,
 * osversion, hwcap) whose key and value are string offsets from the header's start.
 */
export function parseLoaderCache(cache: Buffer): {soname: string; path: string}[] {
  const base = cache.indexOf('glibc-ld.so.cache1.1')
  if (base < 0 || base + 48 > cache.length) return []
  const count = cache.readUInt32LE(base + 20)
  const text = (at: number) => {
    const start = base + at
    const end = cache.indexOf(0, start)
    return start < cache.length && end > start ? cache.toString('utf8', start, end) : ''
  }
  const entries: {soname: string; path: string}[] = []
  for (let i = 0; i < count; i++) {
    const at = base + 48 + i * 24
    if (at + 24 > cache.length) break
    const soname = text(cache.readUInt32LE(at + 4))
    const file = text(cache.readUInt32LE(at + 8))
    if (soname && file) entries.push({soname, path: file})
  }
  return entries
}

/** The lookup functions an ELF file defines; refuses a file that defines none, or defines them as IFUNCs. */
function lookupFunctions(elf: ElfFile): LibcFunction[] {
  const found: LibcFunction[] = []
  for (const name of LOOKUP_FUNCTIONS) {
    const symbol = elf.symbols.get(name)
    if (symbol && !symbol.indirect) found.push({name, offset: symbol.fileOffset})
  }
  return found
}

async function readLibc(file: string): Promise<{elf?: ElfFile; problem?: string}> {
  try {
    const elf = await readElf(file, LOOKUP_FUNCTIONS)
    const machine = MACHINE[process.arch]
    if (elf.machine !== machine) return {problem: `${file} is built for ${ELF_MACHINES[elf.machine] ?? `ELF machine ${elf.machine}`}, not this machine`}
    return {elf}
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return {problem: code ? `${file}: ${code}` : (error as Error).message}
  }
}

/** A libc found by `source`, checked: a safe path, an ELF file for this machine, defining lookups. */
async function checkedLibc(file: string, source: string, refuse: (message: string) => Error): Promise<Libc> {
  if (!BINARY_PATH.test(file)) throw refuse(`${source}: the path ${JSON.stringify(file)} cannot go in a uprobe definition (absolute, without spaces or special characters)`)
  const {elf, problem} = await readLibc(file)
  if (!elf) throw refuse(`${source}: ${problem}`)
  const functions = lookupFunctions(elf)
  if (functions.length === 0) throw refuse(`${source}: ${file} defines none of ${LOOKUP_FUNCTIONS.join(', ')} (not a libc?)`)
  return {path: file, source, functions}
}

/** The libc a running process maps, as a path that names the same file from diag's mount namespace. */
async function mappedLibc(pid: number, label: string): Promise<Libc> {
  let text: string
  try {
    text = await readTextToEnd(`/proc/${pid}/maps`)
  } catch (error) {
    throw new BadInputError(`${label}: cannot read /proc/${pid}/maps (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); is the process gone?`)
  }
  const libcs = mappedFiles(text).filter((m) => isLibcName(m.path))
  if (libcs.length === 0) throw new NotSupportedError(`${label} maps no shared libc (statically linked?): its lookups cannot be traced with uprobes on a libc`)
  const mapping = libcs[0]
  if (mapping.path.endsWith(' (deleted)')) throw new NotSupportedError(`${label} maps a libc that has since been deleted or replaced (${mapping.path}); restart it to trace it`)
  // The same file seen from here: its own path when the inode matches, else through the process's root (a container).
  const file = sameFile([mapping.path, `/proc/${pid}/root${mapping.path}`], mapping.inode)
  if (file) return checkedLibc(file, `the libc ${label} maps (/proc/${pid}/maps)`, (m) => new NotSupportedError(m))
  throw new NotSupportedError(`${label} maps ${mapping.path}, which diag cannot find as the same file (inode ${mapping.inode})`)
}

/** The first file the loader cache gives for a soname that is a libc for this machine. */
async function cachedLibc(soname: string): Promise<Libc | undefined> {
  const cache = await readFile(LOADER_CACHE).catch(() => undefined)
  if (!cache) return undefined
  for (const entry of parseLoaderCache(cache)) {
    if (entry.soname !== soname) continue
    // The cache lists every ABI's libc (lib32, libx32): the one for this machine is the one to trace.
    const {elf} = await readLibc(entry.path)
    if (elf && lookupFunctions(elf).length > 0) return checkedLibc(entry.path, `${soname} from the loader cache (${LOADER_CACHE})`, (m) => new NotSupportedError(m))
  }
  return undefined
}

/** The libc that diag itself runs on (node is dynamically linked), the fallback where there is no loader cache. */
async function ownLibc(): Promise<Libc | undefined> {
  const text = await readTextToEnd('/proc/self/maps').catch(() => '')
  const mapping = mappedFiles(text).find((m) => isLibcName(m.path))
  return mapping && checkedLibc(mapping.path, 'the libc diag itself runs on (/proc/self/maps)', (m) => new NotSupportedError(m))
}

/** The libc a program will load: its needed libc through the loader cache (musl's loader is its libc). */
async function programLibc(program: string): Promise<Libc> {
  let elf: ElfFile | undefined
  try {
    elf = await readElf(program)
  } catch {
    // A script: its interpreter, found at exec, is a dynamically linked program like any other.
    elf = undefined
  }
  if (elf && !elf.interpreter) throw new BadInputError(`${program} is statically linked: its name lookups do not go through a shared libc (gethostlatency traces the libc's functions)`)
  if (elf?.interpreter && /ld-musl-/.test(path.basename(elf.interpreter))) return checkedLibc(elf.interpreter, `the musl loader ${program} asks for`, (m) => new NotSupportedError(m))
  const soname = elf?.needed.find((name) => /^libc\.so/.test(name)) ?? 'libc.so.6'
  const found = (await cachedLibc(soname)) ?? (await ownLibc())
  if (!found) throw new NotSupportedError(`cannot find ${soname} for ${program}: not in the loader cache (${LOADER_CACHE}), and diag does not run on it (give --libc)`)
  return found
}

/**
 * The libc to trace: --libc as given, the one --pid maps, the one a command will load, or the
 * system's. Refuses (bad input, or not supported) before anything touches the kernel.
 */
export async function findLibc(query: LibcQuery): Promise<Libc> {
  if (query.libc !== undefined) {
    const given = path.resolve(query.libc)
    return checkedLibc(given, `--libc ${query.libc}`, (m) => new BadInputError(m))
  }
  if (query.pid !== undefined) return mappedLibc(query.pid, `process ${query.pid}`)
  if (query.program !== undefined) return programLibc(query.program)
  const found = (await cachedLibc('libc.so.6')) ?? (await ownLibc())
  if (!found) throw new NotSupportedError(`cannot find the system's libc: libc.so.6 is not in the loader cache (${LOADER_CACHE}), and diag does not run on a shared libc (give --libc)`)
  return found
}
