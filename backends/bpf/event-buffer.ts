/**
 * A streaming BPF tool's records as they happen, through one interface over a ring buffer
 * (BPF_MAP_TYPE_RINGBUF, 5.8+) or, before, a perf buffer (BPF_MAP_TYPE_PERF_EVENT_ARRAY), as
 * libbpf-tools' compat.c chooses. The addon watches the buffer's epoll fd from Node's own loop
 * (libuv) and consumes it there when it is readable: Node is never blocked, and no thread races
 * libbpf. Records come in batches, one callback per wakeup. An open buffer does not keep Node
 * running by itself (the session's own wait does).
 *
 * Kernel side (bpf/diag.h): `DIAG_EVENTS(ring bytes)` declares the map `events`, and
 * `emit(ctx, &record, sizeof(record))` writes one record (and counts what finds no room, see
 * lost()). The ring buffer build is <tool>.bpf.o, the perf buffer build <tool>.no-global-data.bpf.o.
 *
 * User side:
 *   const kind = eventBufferKind(probe)                       // 'ring' where the kernel has it, else 'perf'
 *   const bpf = BpfTool.open('<tool>', undo, probe, kind)     // the build with that buffer
 *   bpf.setU32(...); bpf.load([...])
 *   const events = EventBuffer.open(bpf, undo)                // its close is in the undo log
 *   events.onEvents((batch) => { for (const record of batch) ... })
 *   bpf.attach...
 *   at stop, once the programs are detached: events.drain(); then events.lost() (exact after drain)
 *
 * A record is a Buffer of the bytes emitted; a perf buffer pads it to 4 bytes short of a multiple
 * of 8, so read fields by offset and ignore the length.
 */
import type {HostProbe} from '../../src/probe/probe.js'
import type {Row, RowColumn} from '../../src/result/model.js'
import type {UndoLog} from '../../src/system/undo.js'
import {type Collector, RowQueue, type RowStream} from '../runner.js'
import type {EventBufferKind, RawEventBuffer} from './bpf-tool.js'

export type {EventBufferKind} from './bpf-tool.js'

/** The capabilities that say which buffer a kernel has (src/probe/table/bpf.ts). */
export const RING_BUFFER = 'bpf-map-ringbuf'
export const PERF_BUFFER = 'bpf-map-perf-event-array'

/** 'ring' where the probe found BPF ring buffers, else 'perf' (a candidate needs PERF_BUFFER). */
export function eventBufferKind(probe: Pick<HostProbe, 'capabilities'>): EventBufferKind {
  return probe.capabilities.find((c) => c.name === RING_BUFFER)?.status === 'available' ? 'ring' : 'perf'
}

/** The records of one wakeup: record i is data[offsets[i], offsets[i + 1]). */
export class EventBatch implements Iterable<Buffer> {
  constructor(
    readonly data: Buffer,
    readonly offsets: Uint32Array,
  ) {}

  get count(): number {
    return this.offsets.length - 1
  }

  record(i: number): Buffer {
    return this.data.subarray(this.offsets[i], this.offsets[i + 1])
  }

  *[Symbol.iterator](): Iterator<Buffer> {
    for (let i = 0; i < this.count; i++) yield this.record(i)
  }
}

/** What EventBuffer needs of a loaded BpfTool. */
export interface EventSource {
  readonly events?: EventBufferKind
  openEventBuffer(map: string, pageCount: number, onBatch: (data: Buffer, offsets: Uint32Array) => void): RawEventBuffer
  /** The object's own count of what it could not record (bpf/diag.h count_lost). */
  lost(): number
  /** A map's u64 entries, per-CPU values summed: the perf build's events_sent. */
  countEntries(map: string): [Buffer, number][]
}

export interface EventBufferOptions {
  /** The map, `events` unless the object names it otherwise. */
  map?: string
  /** Pages per CPU of a perf buffer (a power of two); a ring buffer's size is set in its C. */
  perfPages?: number
}

export class EventBuffer {
  private listener: ((batch: EventBatch) => void) | undefined
  /** Batches that came before onEvents was called. */
  private readonly early: EventBatch[] = []
  private closed = false
  private received = 0
  private drained = false
  /** A perf buffer's counts when it was closed. */
  private atClose = {kernelLost: 0, sent: 0}

  private constructor(
    private readonly source: EventSource,
    private readonly raw: RawEventBuffer,
    readonly kind: EventBufferKind,
  ) {}

  /** Starts reading the loaded object's event map; its close goes into the undo log. */
  static open(source: EventSource, undo: UndoLog, {map = 'events', perfPages = 64}: EventBufferOptions = {}): EventBuffer {
    let buffer: EventBuffer | undefined
    const raw = source.openEventBuffer(map, perfPages, (data, offsets) => buffer!.deliver(new EventBatch(data, offsets)))
    buffer = new EventBuffer(source, raw, source.events!)
    undo.push(`close the ${buffer.kind} buffer ${map}`, () => buffer!.close())
    return buffer
  }

  private deliver(batch: EventBatch): void {
    this.received += batch.count
    if (this.listener) this.listener(batch)
    else this.early.push(batch)
  }

  /** Calls listener with each batch of records as it arrives (and with those that came before). */
  onEvents(listener: (batch: EventBatch) => void): void {
    this.listener = listener
    for (const batch of this.early.splice(0)) listener(batch)
  }

  /** Hands over now whatever is left in the buffer (at stop, after detaching); returns how many records. */
  drain(): number {
    if (this.closed) return 0
    const n = this.raw.consume()
    this.drained = true
    return n
  }

  /**
   * What the object could not record: full maps, and records that found no room. A ring buffer's
   * are counted by emit(). A perf buffer's cannot be, on every kernel (bpf/diag.h): after drain()
   * they are the records emit() sent less those received, exact; before, only what the kernel has
   * reported so far (PERF_RECORD_LOST, which it writes once room is back).
   */
  lost(): number {
    const counted = this.source.lost()
    if (this.kind === 'ring') return counted
    const {kernelLost, sent} = this.closed ? this.atClose : {kernelLost: this.raw.kernelLost(), sent: this.sent()}
    return counted + (this.drained ? Math.max(0, sent - this.received) : kernelLost)
  }

  private sent(): number {
    return this.source.countEntries('events_sent').reduce((sum, [, n]) => sum + n, 0)
  }

  close(): void {
    if (this.closed) return
    if (this.kind === 'perf') this.atClose = {kernelLost: this.raw.kernelLost(), sent: this.sent()}
    this.closed = true
    this.raw.close()
  }
}

/**
 * The collector of a BPF rows tool whose records become rows at once: each batch of records goes
 * through `toRows` (which may leave some out) and out as it comes; every collect, and the stop,
 * first drain what the buffer holds.
 */
export function eventRowsCollector(events: EventBuffer, attach: string, columns: RowColumn[], toRows: (records: Buffer[]) => Row[]): Collector & RowStream {
  const queue = new RowQueue()
  events.onEvents((batch) => queue.pushAll(toRows([...batch])))
  return {
    attach,
    onRows: (emit) => queue.onRows(emit),
    async collect() {
      events.drain()
      return {kind: 'rows', columns, rows: []}
    },
    async stop() {
      events.drain()
    },
    lost: async () => events.lost(),
  }
}
