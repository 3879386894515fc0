import {existsSync} from 'node:fs'

import {BackendError, NotSupportedError, PermissionError, isPermissionErrno} from '../../src/errors.js'
import {type BpfAddonError, type BpfObjectHandle, type AttachSpec, loadBpfAddon} from '../../src/system/bpf-addon.js'
import {bpfObjectPath} from '../../src/system/paths.js'
import type {HostFiles} from '../../src/system/files.js'
import type {UndoLog} from '../../src/system/undo.js'
import {type EventFormat, fieldOffset, readEventFormat} from '../../src/tracefs/format.js'

const PERF_TYPE_TRACEPOINT = 2

export {SLOTS, slotName} from './slots.js'

function u32(value: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(value)
  return b
}

function u64(value: number | bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(value))
  return b
}

/** An addon error as a typed diag error: refusals are permission errors, the rest backend failures. */
function asDiagError(what: string, error: unknown): Error {
  const e = error as BpfAddonError
  const cause = e.libbpfLog?.trim().split('\n').filter((l) => !/failed to load object/.test(l)).pop()
  const message = `${what}: ${e.code ?? e.message}${cause ? ` (${cause.replace(/^libbpf: /, '')})` : ''}`
  const details = {errno: e.code, libbpf: e.libbpfLog?.trim()}
  return isPermissionErrno(e.code) ? new PermissionError(message, details) : new BackendError(message, details)
}

/**
 * One of diag's BPF objects (bpf/<tool>.bpf.o) through the addon: set knobs, choose programs,
 * load, attach. Its destruction (every link, map and program) is in the undo log from the start.
 */
export class BpfTool {
  private readonly attached: string[] = []
  private followed: number | undefined
  private forkFormat: EventFormat | undefined

  private constructor(
    readonly name: string,
    private readonly object: BpfObjectHandle,
  ) {}

  static open(name: string, undo: UndoLog): BpfTool {
    const load = loadBpfAddon()
    if (!load.ok) throw new NotSupportedError(`${load.reason}; tried ${load.tried.join(', ')}`)
    const path = bpfObjectPath(name)
    if (!existsSync(path)) throw new NotSupportedError(`${path} is not built (npm run build:bpf)`)
    let object: BpfObjectHandle
    try {
      object = new load.addon.BpfObject(path)
    } catch (error) {
      throw asDiagError(`opening ${name}.bpf.o`, error)
    }
    undo.push(`destroy BPF object ${name}`, () => object.destroy())
    return new BpfTool(name, object)
  }

  setU8(name: string, value: number): void {
    this.object.setConst(name, Buffer.from([value]))
  }

  setU32(name: string, value: number): void {
    this.object.setConst(name, u32(value))
  }

  setU64(name: string, value: number): void {
    this.object.setConst(name, u64(value))
  }

  setAttachTarget(program: string, func: string): void {
    this.object.setAttachTarget(program, func)
  }

  setMaxEntries(map: string, entries: number): void {
    this.object.setMaxEntries(map, entries)
  }

  /**
   * Traces only this process and the children it forks, when given. Call before load(), which
   * then loads the fork follower too and puts the process in the traced map.
   */
  async filterProcess(tgid: number | undefined, files: HostFiles, tracefs: string): Promise<void> {
    if (tgid === undefined) return
    const fork = await readEventFormat(files, tracefs, 'sched/sched_process_fork')
    this.setU8('filter_tgid', 1)
    this.setU32('fork_child_pid_offset', fieldOffset(fork, 'child_pid', [4]))
    this.followed = tgid
    this.forkFormat = fork
  }

  /** Loads exactly these programs (and the fork follower when filtering); others are switched off. */
  load(programs: string[]): void {
    const wanted = this.followed === undefined ? programs : [...programs, 'follow_fork']
    for (const p of this.object.programs()) this.object.setAutoload(p.name, wanted.includes(p.name))
    try {
      this.object.load()
    } catch (error) {
      throw asDiagError(`loading ${this.name}.bpf.o`, error)
    }
    if (this.followed !== undefined) {
      this.object.mapUpdate('traced_tgids', u32(this.followed), Buffer.from([1]))
      this.attachTracepoint('follow_fork', this.forkFormat!)
    }
  }

  attach(program: string, spec: AttachSpec, description: string): void {
    try {
      this.object.attach(program, spec)
    } catch (error) {
      throw asDiagError(`attaching ${description}`, error)
    }
    this.attached.push(description)
  }

  /**
   * Attaches a tracepoint program through perf_event_open with the event id from diag's tracefs
   * view (libbpf's own tracepoint attach needs tracefs mounted where it looks).
   */
  attachTracepoint(program: string, format: EventFormat): void {
    this.attach(program, {kind: 'perf_event', type: PERF_TYPE_TRACEPOINT, config: format.id, cpu: 0}, `tracepoint ${format.event.replace('/', ':')}`)
  }

  get attachments(): string {
    return this.attached.join(', ')
  }

  /** A map's entries with u64 values (per-CPU values summed). */
  countEntries(map: string): [Buffer, number][] {
    return this.object.mapEntries(map).map(([key, value]) => {
      let sum = 0n
      for (let offset = 0; offset + 8 <= value.length; offset += 8) sum += value.readBigUInt64LE(offset)
      return [key, Number(sum)]
    })
  }

  entries(map: string): [Buffer, Buffer][] {
    return this.object.mapEntries(map)
  }

  /** Events the programs could not record (full maps), summed over CPUs. */
  lost(): number {
    return this.countEntries('lost').reduce((sum, [, n]) => sum + n, 0)
  }
}
