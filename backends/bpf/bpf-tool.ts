import {existsSync} from 'node:fs'

import {BackendError, NotSupportedError, PermissionError, isPermissionErrno} from '../../src/errors.js'
import {type BpfAddonError, type BpfObjectHandle, type AttachSpec, loadBpfAddon} from '../../src/system/bpf-addon.js'
import {bpfObjectPath} from '../../src/system/paths.js'
import type {HostFiles} from '../../src/system/files.js'
import type {UndoLog} from '../../src/system/undo.js'
import {type EventFormat, fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import type {HostProbe} from '../../src/probe/probe.js'
import {KPROBE_PMU, UPROBE_PMU} from '../../src/tracefs/probe-events.js'
import {TracefsSession} from '../ftrace/tracefs-session.js'
import type {RunContext} from '../runner.js'

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

/** One open ring or perf buffer of a loaded object (BpfTool.openEventBuffer). */
export interface RawEventBuffer {
  /** Hands over every record written so far, now; returns how many. */
  consume(): number
  /** Samples a perf buffer's kernel side reported lost (PERF_RECORD_LOST); 0 for a ring buffer. */
  kernelLost(): number
  close(): void
}

/** The build of a tool's object for kernels without global data (bpf/Makefile). */
export const NO_GLOBAL_DATA = 'no-global-data'

/** How a streaming tool's records reach user space (bpf/diag.h DIAG_EVENTS). */
export type EventBufferKind = 'ring' | 'perf'

/**
 * Which build of bpf/<name>.bpf.o this kernel loads: the one with knobs as read-only globals
 * where the probe found global data, else the one with knobs in maps, where it was built
 * (tp_btf objects are not: their candidates need bpf-global-data). A streaming tool's perf
 * buffer is in the build with knobs in maps only (bpf/diag.h DIAG_EVENTS), which loads anywhere.
 */
export function objectVariant(name: string, probe: Pick<HostProbe, 'capabilities'>, events?: EventBufferKind): string {
  const globalData = probe.capabilities.find((c) => c.name === 'bpf-global-data')?.status === 'available'
  const withMaps = `${name}.${NO_GLOBAL_DATA}`
  if (events) return events === 'perf' ? withMaps : name
  return !globalData && existsSync(bpfObjectPath(withMaps)) ? withMaps : name
}

/**
 * One of diag's BPF objects (bpf/<tool>.bpf.o) through the addon: set knobs, choose programs,
 * load, attach. Its destruction (every link, map and program) is in the undo log from the start.
 */
export class BpfTool {
  private readonly attached: string[] = []
  private followed: number | undefined
  private forkFormat: EventFormat | undefined
  /** Knobs of an object built with knobs in maps: written into knob_<name> right after load. */
  private readonly knobMaps = new Map<string, Buffer>()

  private constructor(
    readonly name: string,
    private readonly object: BpfObjectHandle,
    private readonly knobsInMaps: boolean,
    private readonly undo: UndoLog,
    /** The buffer its `events` map is, for a streaming tool opened with one (event-buffer.ts). */
    readonly events?: EventBufferKind,
  ) {}

  /**
   * Opens bpf/<name>.bpf.o for a run (open) and, when the run traces one process, filters on it
   * and its children (filterProcess): what every process-filtering tool's runner starts with.
   */
  static async forRun(name: string, ctx: Pick<RunContext<unknown>, 'undo' | 'probe' | 'files' | 'targetPid'>, events?: EventBufferKind): Promise<BpfTool> {
    const bpf = BpfTool.open(name, ctx.undo, ctx.probe, events)
    await bpf.filterProcess(ctx.targetPid, ctx.files, ctx.probe.tracefs!)
    return bpf
  }

  /**
   * Opens the build of bpf/<name>.bpf.o that this kernel can load (objectVariant); a streaming
   * tool says which event buffer it reads (eventBufferKind in event-buffer.ts).
   */
  static open(name: string, undo: UndoLog, probe: Pick<HostProbe, 'capabilities'>, events?: EventBufferKind): BpfTool {
    const load = loadBpfAddon()
    if (!load.ok) throw new NotSupportedError(`${load.reason}; tried ${load.tried.join(', ')}`)
    const variant = objectVariant(name, probe, events)
    const path = bpfObjectPath(variant)
    if (!existsSync(path)) throw new NotSupportedError(`${path} is not built (npm run build:bpf)`)
    let object: BpfObjectHandle
    try {
      object = new load.addon.BpfObject(path)
    } catch (error) {
      throw asDiagError(`opening ${variant}.bpf.o`, error)
    }
    undo.push(`destroy BPF object ${variant}`, () => object.destroy())
    return new BpfTool(variant, object, variant !== name, undo, events)
  }

  private setKnob(name: string, value: Buffer): void {
    if (this.knobsInMaps) this.knobMaps.set(name, value)
    else this.object.setConst(name, value)
  }

  setU8(name: string, value: number): void {
    this.setKnob(name, Buffer.from([value]))
  }

  setU32(name: string, value: number): void {
    this.setKnob(name, u32(value))
  }

  setU64(name: string, value: number): void {
    this.setKnob(name, u64(value))
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
    for (const [name, value] of this.knobMaps) this.object.mapUpdate(`knob_${name}`, u32(0), value)
    if (this.followed !== undefined) {
      this.object.mapUpdate('traced_tgids', u32(this.followed), Buffer.from([1]))
      this.attachTracepoint('follow_fork', this.forkFormat!)
    }
  }

  attach(program: string, spec: AttachSpec, description: string): number {
    let link: number
    try {
      link = this.object.attach(program, spec)
    } catch (error) {
      throw asDiagError(`attaching ${description}`, error)
    }
    this.attached.push(description)
    return link
  }

  /**
   * Attaches a kprobe or kretprobe program to a kernel function. With the kprobe PMU (4.17+)
   * libbpf makes the kprobe. Before it, a BPF kprobe is a kprobe event, which libbpf would define
   * only where tracefs is mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing: diag
   * defines it in its own tracefs view (pid-named, removed by the undo log, or by diag reset after
   * a SIGKILL) and attaches to it as to a tracepoint.
   */
  async attachKprobe(program: string, func: string, ret: boolean, files: HostFiles, tracefs: string | undefined, pid: number): Promise<void> {
    const description = `${ret ? 'kretprobe' : 'kprobe'} ${func}`
    if (!tracefs || (await files.exists(KPROBE_PMU)) || !(await files.exists(`${tracefs}/kprobe_events`))) {
      this.attach(program, {kind: ret ? 'kretprobe' : 'kprobe', function: func}, description)
      return
    }
    const event = await new TracefsSession(files, tracefs, pid, this.undo).kprobe('bpf', program, func, ret)
    const id = Number((await files.read(`${tracefs}/events/${event}/id`)).trim())
    const link = this.attach(program, {kind: 'perf_event', type: PERF_TYPE_TRACEPOINT, config: id, cpu: 0}, `${description} (kprobe event ${event})`)
    // The undo log runs backwards: the link goes before its event, which the kernel keeps while in use.
    this.undo.push(`detach ${program}`, () => this.object.detach(link))
  }

  /**
   * Attaches a uprobe or uretprobe program at a file offset of an ELF file (`name` says which
   * function, for the attach line). With the uprobe PMU (4.17+) libbpf makes the uprobe; before
   * it, as for kprobes, diag defines a uprobe event in its own tracefs view (checked, pid-named,
   * removed by the undo log after the link) and attaches to it as to a tracepoint.
   */
  async attachUprobe(program: string, target: {path: string; offset: bigint; name: string}, ret: boolean, files: HostFiles, tracefs: string | undefined, pid: number): Promise<void> {
    const description = `${ret ? 'uretprobe' : 'uprobe'} ${target.name}`
    if (!tracefs || (await files.exists(UPROBE_PMU)) || !(await files.exists(`${tracefs}/uprobe_events`))) {
      this.attach(program, {kind: ret ? 'uretprobe' : 'uprobe', binary: target.path, offset: Number(target.offset)}, description)
      return
    }
    const event = await new TracefsSession(files, tracefs, pid, this.undo).uprobe('bpf', `${target.name}${ret ? '_return' : ''}`, target, ret)
    const id = Number((await files.read(`${tracefs}/events/${event}/id`)).trim())
    const link = this.attach(program, {kind: 'perf_event', type: PERF_TYPE_TRACEPOINT, config: id, cpu: 0}, `${description} (uprobe event ${event})`)
    this.undo.push(`detach ${program}`, () => this.object.detach(link))
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

  /**
   * Reads the loaded object's `map` (a ring or perf buffer) from Node's loop: the raw channel
   * under EventBuffer (event-buffer.ts), which is what tools use.
   */
  openEventBuffer(map: string, pageCount: number, onBatch: (data: Buffer, offsets: Uint32Array) => void): RawEventBuffer {
    if (!this.events) throw new BackendError(`${this.name}.bpf.o was not opened for an event buffer`)
    let id: number
    try {
      id = this.object.openEventBuffer(map, this.events, pageCount, onBatch)
    } catch (error) {
      throw asDiagError(`opening the ${this.events} buffer ${map}`, error)
    }
    return {
      consume: () => this.object.consumeEventBuffer(id),
      kernelLost: () => this.object.eventBufferLost(id),
      close: () => this.object.closeEventBuffer(id),
    }
  }

  /** Writes one entry of a loaded object's map. */
  update(map: string, key: Buffer, value: Buffer): void {
    this.object.mapUpdate(map, key, value)
  }

  /** One key's value, or undefined when the map has no such key. */
  lookup(map: string, key: Buffer): Buffer | undefined {
    return this.object.mapLookup(map, key) ?? undefined
  }

  /** Events the programs could not record (full maps), summed over CPUs. */
  lost(): number {
    return this.countEntries('lost').reduce((sum, [, n]) => sum + n, 0)
  }
}
