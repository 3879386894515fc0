import {closeSync, constants, openSync, readvSync} from 'node:fs'
import {endianness} from 'node:os'

import {NotSupportedError} from '../../src/errors.js'
import {parseEventFormat} from '../../src/tracefs/format.js'
import {EventDecoders, type PageLayout, type RawEvent, type RecordHeader, parseHeaderEvent, parseHeaderPage, walkPage} from './ring-buffer.js'
import {DRAIN_SLICE_MS, RingReader} from './ring-reader.js'
import type {TracefsSession} from './tracefs-session.js'

// Pages read per CPU per readv(2): trace_pipe_raw gives at most one page per read(2), and readv
// of a file without read_iter calls read once per segment, so one system call takes this many.
const PAGES_PER_READ = 32

/** The events a raw reader decodes, and the fields of each its consumer reads. */
export interface RawEventSpec {
  /** category/name, as under events/. */
  event: string
  fields: string[]
}

interface CpuPipe {
  cpu: number
  fd: number
}

// An event's timestamp is taken when the kernel reserves its room, and the pipe gives it only once
// it is committed: a CPU read as empty can still give an event stamped before that read, when its
// writer was between the two (on a VM, a vCPU the hypervisor stopped there). An empty CPU bounds
// the merge this far below the moment it was read, rather than at that moment.
export const EMPTY_CPU_MARGIN_NS = 20_000_000

/** How far (seconds) a CPU read as empty at `readAtNs` bounds the merge. */
export const emptyCpuBound = (readAtNs: number): number => (readAtNs - EMPTY_CPU_MARGIN_NS) / 1e9

/**
 * The ordered merge of the CPUs' events: each CPU's events are held until every CPU has given
 * what comes before them (`release(until)`), then handed on by timestamp. An event that still
 * comes below what was already handed on (a writer stopped longer than EMPTY_CPU_MARGIN_NS) is
 * handed on, and counted in `late`: a consumer that pairs events may have missed its pair.
 */
export class TimeOrderedMerge {
  private readonly held: RawEvent[][]
  private handedUpTo = -Infinity
  /** Events handed on after a later one from another CPU. */
  late = 0

  constructor(
    cpus: number,
    private readonly onEvent: (event: RawEvent) => void,
  ) {
    this.held = Array.from({length: cpus}, () => [])
  }

  hold(cpuIndex: number, event: RawEvent): void {
    this.held[cpuIndex].push(event)
  }

  /** The timestamp of the last event held from a CPU: it gives nothing earlier next. */
  lastHeld(cpuIndex: number): number | undefined {
    return this.held[cpuIndex].at(-1)?.timestamp
  }

  /** Hands on the held events up to `until` (seconds), merged by time. */
  release(until: number): void {
    const heads = this.held.map(() => 0)
    for (;;) {
      let next = -1
      for (let i = 0; i < this.held.length; i++) {
        const event = this.held[i][heads[i]]
        if (event && event.timestamp <= until && (next < 0 || event.timestamp < this.held[next][heads[next]].timestamp)) next = i
      }
      if (next < 0) break
      const event = this.held[next][heads[next]++]
      if (event.timestamp < this.handedUpTo) this.late++
      else this.handedUpTo = event.timestamp
      this.onEvent(event)
    }
    this.held.forEach((events, i) => heads[i] && events.splice(0, heads[i]))
  }
}

/** How events are handed on. */
export interface RawPipeOrder {
  /**
   * In time order across CPUs, for consumers that pair events from different CPUs: each read's
   * events are held until every CPU has given what comes before them.
   */
  ordered?: boolean
  /**
   * The trace clock's present time in nanoseconds, where Node can read the same clock ("mono" is
   * CLOCK_MONOTONIC): a CPU found empty then gives nothing earlier than the moment it was read,
   * less EMPTY_CPU_MARGIN_NS.
   * Without it an empty CPU holds nothing back, as trace_pipe's own merge of the CPUs does.
   */
  clockNowNs?: () => number
}

/**
 * An instance's binary per-CPU trace_pipe_raw, read as RingReader describes: whole ring-buffer
 * pages, many per system call, decoded at the offsets the kernel's header_page, header_event and
 * the events' format files give. No text is formatted in the kernel nor parsed in Node.
 * Events reach `onEvent` in each CPU's order, CPU after CPU, or in time order across CPUs when
 * asked (RawPipeOrder).
 */
export class RawPipe extends RingReader {
  private readonly pageSize: number
  private readonly pages: Buffer
  private readonly segments: Buffer[]
  private readonly merge: TimeOrderedMerge

  private constructor(
    private readonly cpus: CpuPipe[],
    session: TracefsSession,
    dir: string,
    private readonly layout: PageLayout,
    private readonly header: RecordHeader,
    private readonly decoders: EventDecoders,
    private readonly onEvent: (event: RawEvent) => void,
    sliceMs: number,
    private readonly order: RawPipeOrder,
  ) {
    super(session, dir, sliceMs)
    this.pageSize = layout.dataOffset + layout.dataSize
    this.pages = Buffer.alloc(this.pageSize * PAGES_PER_READ)
    this.segments = Array.from({length: PAGES_PER_READ}, (_, i) => this.pages.subarray(i * this.pageSize, (i + 1) * this.pageSize))
    this.merge = new TimeOrderedMerge(cpus.length, onEvent)
  }

  /** Why this host's kernel cannot be read this way, or undefined when it can. */
  static unsupported(): string | undefined {
    // The record header's bit fields and every field are read little-endian.
    return endianness() === 'LE' ? undefined : 'trace_pipe_raw is read little-endian and this host is big-endian'
  }

  static async open(
    session: TracefsSession,
    dir: string,
    events: RawEventSpec[],
    onEvent: (event: RawEvent) => void,
    {pollMs = 100, sliceMs = DRAIN_SLICE_MS, ...order}: {pollMs?: number; sliceMs?: number} & RawPipeOrder = {},
  ): Promise<RawPipe> {
    const why = RawPipe.unsupported()
    if (why) throw new NotSupportedError(why)
    // An instance has its own header files on newer kernels (its page size can differ); the top level's otherwise.
    const header = async (name: string) => session.read(`${dir}/events/${name}`).catch(() => session.read(`events/${name}`))
    const layout = parseHeaderPage(await header('header_page'))
    const recordHeader = parseHeaderEvent(await header('header_event'))
    const formats = await Promise.all(events.map(async ({event, fields}) => ({format: parseEventFormat(event, await session.read(`${dir}/events/${event}/format`)), fields})))
    const decoders = new EventDecoders(formats)
    const cpus: CpuPipe[] = []
    try {
      for (const name of await session.listDir(`${dir}/per_cpu`)) {
        const cpu = /^cpu(\d+)$/.exec(name)
        if (cpu) cpus.push({cpu: Number(cpu[1]), fd: openSync(`${session.root}/${dir}/per_cpu/${name}/trace_pipe_raw`, constants.O_RDONLY | constants.O_NONBLOCK)})
      }
    } catch (error) {
      for (const {fd} of cpus) closeSync(fd)
      throw error
    }
    const pipe = new RawPipe(cpus, session, dir, layout, recordHeader, decoders, onEvent, sliceMs, order)
    await pipe.begin(pollMs)
    return pipe
  }

  /** One batch of pages from every CPU that has any; true when none had. */
  protected readOnce(): boolean {
    let dry = true
    // Ordered: the time up to which every CPU has given all its events.
    let settled = Infinity
    this.cpus.forEach((pipe, index) => {
      const readAt = this.order.ordered ? this.order.clockNowNs?.() : undefined
      const bytesRead = this.readPages(pipe.fd)
      if (bytesRead === 0) {
        if (readAt !== undefined) settled = Math.min(settled, emptyCpuBound(readAt))
        return
      }
      dry = false
      const hand = this.order.ordered ? (event: RawEvent) => this.merge.hold(index, event) : this.onEvent
      for (let at = 0; at + this.pageSize <= bytesRead; at += this.pageSize) this.decodePage(this.segments[at / this.pageSize], pipe.cpu, hand)
      // A CPU's events come in its own time order: what it gives next is no earlier than its last.
      const last = this.order.ordered ? this.merge.lastHeld(index) : undefined
      if (last !== undefined) settled = Math.min(settled, last)
    })
    if (this.order.ordered) this.merge.release(settled)
    return dry
  }

  /** Bytes of whole pages read from one CPU's pipe; 0 when it had none. */
  private readPages(fd: number): number {
    try {
      return readvSync(fd, this.segments)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return 0
      throw error
    }
  }

  protected override flush(): void {
    this.merge.release(Infinity)
  }

  /** Late events (TimeOrderedMerge) are lost to a consumer that pairs them, as far as it can tell. */
  override async lost(): Promise<number> {
    return (await super.lost()) + this.merge.late
  }

  private decodePage(page: Buffer, cpu: number, hand: (event: RawEvent) => void): void {
    walkPage(page, this.layout, this.header, (start, end, timestamp) => {
      const event = this.decoders.decode(page, start, end, cpu, timestamp)
      if (event) hand(event)
    })
  }

  protected closeFiles(): void {
    for (const {fd} of this.cpus) closeSync(fd)
  }
}
