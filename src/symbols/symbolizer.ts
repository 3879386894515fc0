import path from 'node:path'

import type {HostFiles} from '../system/files.js'
import {ElfSymbols} from './elf.js'
import {KernelSymbols} from './kallsyms.js'
import {type Mapping, mappingAt, parseMaps, sameFile} from './process-maps.js'

/** A frame no table names. */
export const UNKNOWN = '[unknown]'

/** A process's executable mappings, read while it lived. */
interface ProcessImage {
  mappings: Mapping[]
  /** Where its files are seen from diag's side: its own root (a container's files). */
  root: string
}

/**
 * Names stack frames, kernel and user, in one place for every tool that shows stacks. Kernel
 * addresses from /proc/kallsyms (read on first use, once per run); user addresses from the
 * process's /proc/PID/maps and the symbol tables of the mapped files, with the load bias. A
 * process's maps must be read while it lives (remember()), so that its frames keep their names
 * after it exits. A frame is never dropped: one no table names is `module+0xOFFSET` (the file
 * offset, which addr2line and objdump take) or `[unknown]`.
 */
export class Symbolizer {
  private kernel: KernelSymbols | undefined
  private readonly processes = new Map<number, ProcessImage>()
  private readonly elves = new Map<string, ElfSymbols | null>()

  constructor(private readonly files: HostFiles) {}

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

  /** Whether the process's mappings are known (remembered, alive or not). */
  knows(tgid: number): boolean {
    return this.processes.has(tgid)
  }

  /**
   * Reads (again) a live process's mappings; returns false when it is gone (what was read before
   * is kept). Call for each process seen, while it may still live.
   */
  async remember(tgid: number): Promise<boolean> {
    let text: string
    try {
      text = await this.files.read(`/proc/${tgid}/maps`)
    } catch {
      return false
    }
    const mappings = parseMaps(text).filter((m) => m.executable)
    // A zombie's maps are empty: keep what was read while it lived.
    if (mappings.length === 0) return false
    this.processes.set(tgid, {mappings, root: `/proc/${tgid}/root`})
    return true
  }

  /**
   * The symbols of a mapped file, by its inode as well as its path: two containers' libc.so.6 at
   * one path are two files. Read through the process's own root while it lives, else through
   * diag's path of the same name when that is the same file; otherwise none (frames then show
   * the file and offset, never another file's names).
   */
  private elf(mapping: Mapping, root: string): ElfSymbols | null {
    const file = mapping.path.replace(/ \(deleted\)$/, '')
    const key = `${mapping.inode}:${file}`
    const known = this.elves.get(key)
    if (known !== undefined) return known
    let elf: ElfSymbols | null = null
    const found = sameFile([path.join(root, file), file], mapping.inode)
    try {
      if (found) elf = ElfSymbols.read(found)
    } catch {
      // Not ELF: no names.
    }
    this.elves.set(key, elf)
    return elf
  }

  async userFrame(tgid: number, address: number): Promise<string> {
    const image = this.processes.get(tgid)
    const mapping = image && mappingAt(image.mappings, address)
    if (!mapping) return UNKNOWN
    if (!mapping.path.startsWith('/')) return mapping.path ? `${mapping.path}+0x${(address - mapping.start).toString(16)}` : UNKNOWN
    const fileOffset = address - mapping.start + mapping.offset
    const elf = this.elf(mapping, image.root)
    const inFile = elf?.addressOfOffset(fileOffset)
    const symbol = inFile === undefined ? undefined : elf!.functionAt(inFile)
    return symbol ? symbol.name : `${path.basename(mapping.path)}+0x${fileOffset.toString(16)}`
  }
}
