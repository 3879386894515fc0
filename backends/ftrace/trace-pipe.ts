import {closeSync, constants, openSync, readFileSync, readSync} from 'node:fs'
import {StringDecoder} from 'node:string_decoder'
import {setTimeout as sleep} from 'node:timers/promises'

import type {TracefsSession} from './tracefs-session.js'

/** One event line of trace_pipe, split into what every event has and its own text. */
export interface TraceLine {
  comm: string
  /** The thread's id (the kernel's pid). */
  pid: number
  /** Its process (thread group), where the instance records tgids (options/record-tgid, 4.13+). */
  tgid?: number
  /** The CPU whose buffer holds the line. */
  cpu: number
  /** Seconds, as the trace clock gives them (microsecond resolution). */
  timestamp: number
  event: string
  body: string
}

// "            bash-15696   [000] .....  2355.141045: sys_enter: NR 33 (b, 1, ...)"
// The flags column is absent on old kernels and its width has changed, hence the loose middle.
// The function tracer's lines have no event name: "...  2355.141045: vfs_read <-ksys_read".
// With record-tgid, the thread group follows the pid: "bash-15696 (  15690) [000] ..." ("-------"
// when the kernel has not seen it).
// The comm is matched lazily (the first "-<pid> " that a CPU column follows): several times
// cheaper than backtracking from the end of every line.
const LINE = /^\s*(.+?)-(\d+)\s+(?:\(\s*(\d+|-+)\)\s+)?\[(\d+)\][^:]*?\s(\d+\.\d+):\s+(?:(\w+):\s)?(.*)$/

export function parseTraceLine(line: string): TraceLine | undefined {
  const m = LINE.exec(line)
  if (!m) return undefined
  const tgid = m[3] && /^\d+$/.test(m[3]) ? Number(m[3]) : undefined
  return {comm: m[1].trim(), pid: Number(m[2]), tgid, cpu: Number(m[4]), timestamp: Number(m[5]), event: m[6] ?? 'function', body: m[7]}
}

/** A thread's comm from /proc when trace_pipe could not name it ("<...>": the kernel's comm cache missed it). */
export function commOf(line: TraceLine): string {
  if (line.comm !== '<...>') return line.comm
  try {
    return readFileSync(`/proc/${line.pid}/comm`, 'utf8').trim()
  } catch {
    return line.comm
  }
}

const CHUNK = 1024 * 1024
// One drain between intervals reads for at most this long, so that a stream that never runs dry
// (a busy system) cannot keep diag from its next interval; the rest waits for the next drain, and
// what the kernel overwrites meanwhile is counted from its overrun counters.
const DRAIN_SLICE_MS = 50
// At stop, the events are off, so the buffer can only shrink: it is read to the end, for at most
// this long; whatever is still in it then is counted as lost.
const FINAL_DRAIN_MS = 10_000
// Reads of an empty pipe at stop while the counters still show entries, 1 ms apart.
const STRAGGLER_READS = 20
// A line longer than this is not an event line of any event diag reads; it is dropped rather than
// buffered, so memory stays bounded whatever the kernel writes.
const MAX_LINE = 64 * 1024

/** The ring buffer's counters of one instance (per_cpu/cpuN/stats), summed over CPUs. */
export interface RingStats {
  /** Events never read: overwritten (overrun), lost to nested writes (commit overrun), refused (dropped). */
  missed: number
  /** Events still in the buffer. */
  entries: number
}

export function parseRingStats(text: string): RingStats {
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? 0)
  return {missed: field('overrun') + field('commit overrun') + field('dropped events'), entries: field('entries')}
}

/**
 * Reads an instance's trace_pipe without blocking (O_NONBLOCK: EAGAIN when empty), so that
 * closing never waits on a read that cannot end. Reads happen on the main thread: diag's other
 * threads are excluded from its streams (see stream.ts), and a read must not feed the stream
 * it reads. It is drained in the background, in slices one after another while the pipe does
 * not run dry and every `pollMs` when it does, so the ring buffer does not overrun between
 * intervals, and once more at each collect. stop() turns the instance's recording off
 * and reads the buffer to its end, so that every event the kernel recorded is either read or
 * counted in lost().
 */
export class TracePipe<Line = TraceLine> {
  private partial = ''
  private timer: NodeJS.Timeout | undefined
  private pumping: NodeJS.Immediate | undefined
  private missedAtStart = 0
  private missedNow = 0
  private leftAtStop = 0
  private stopped = false
  private readonly buffer = Buffer.alloc(CHUNK)
  // Keeps a character split between two reads whole.
  private readonly decoder = new StringDecoder('utf8')
  private failure: unknown

  private constructor(
    private readonly fd: number,
    private readonly session: TracefsSession,
    private readonly dir: string,
    private readonly onLine: (line: Line) => void,
    private readonly parse: (text: string) => Line | undefined,
    private readonly sliceMs: number,
    /** Lines that are not an event's first line: the " => frame" lines of a stack trace. */
    private readonly onOther?: (line: string) => void,
  ) {}

  /** Opens the pipe of `dir`; its lines are parsed as event lines, or by `parse` (function_graph's). */
  static async open<Line = TraceLine>(
    session: TracefsSession,
    dir: string,
    onLine: (line: Line) => void,
    {
      parse = parseTraceLine as (text: string) => Line | undefined,
      pollMs = 100,
      sliceMs = DRAIN_SLICE_MS,
      onOther,
    }: {parse?: (text: string) => Line | undefined; pollMs?: number; sliceMs?: number; onOther?: (line: string) => void} = {},
  ): Promise<TracePipe<Line>> {
    const fd = openSync(`${session.root}/${dir}/trace_pipe`, constants.O_RDONLY | constants.O_NONBLOCK)
    const pipe = new TracePipe<Line>(fd, session, dir, onLine, parse, sliceMs, onOther)
    pipe.missedAtStart = pipe.missedNow = (await pipe.stats()).missed
    pipe.timer = setInterval(() => {
      if (!pipe.pumping) pipe.pump()
    }, pollMs)
    pipe.pumping = setImmediate(pipe.pump)
    return pipe
  }

  /**
   * One background drain. While the pipe does not run dry (a busy stream), the next slice follows
   * at once, after whatever else waits in the event loop (an interval's collect, a signal),
   * rather than at the next poll: waiting 100 ms between 50 ms slices read less than half of
   * what a busy kernel wrote. A failure is kept and raised by the next collect, where the
   * session's teardown will run, rather than thrown from a timer where nothing catches it.
   */
  private readonly pump = (): void => {
    this.pumping = undefined
    if (this.failure || this.stopped) return
    try {
      if (!this.drain(this.sliceMs)) this.pumping = setImmediate(this.pump)
    } catch (error) {
      this.failure ??= error
      clearInterval(this.timer)
    }
  }

  /**
   * Reads what the kernel has committed so far, for at most `budgetMs`, and feeds it to onLine.
   * Returns true when the pipe ran dry.
   */
  drain(budgetMs = DRAIN_SLICE_MS): boolean {
    if (this.failure) throw this.failure
    const deadline = performance.now() + budgetMs
    do {
      let bytesRead: number
      try {
        bytesRead = readSync(this.fd, this.buffer, 0, CHUNK, null)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return true
        throw error
      }
      // 0 is the end: trace_pipe says so once recording is off and nothing is left.
      if (bytesRead === 0) return true
      this.feed(this.decoder.write(this.buffer.subarray(0, bytesRead)))
    } while (performance.now() < deadline)
    return false
  }

  private feed(text: string): void {
    const lines = (this.partial + text).split('\n')
    this.partial = lines.pop() ?? ''
    if (this.partial.length > MAX_LINE) this.partial = ''
    for (const line of lines) {
      const parsed = this.parse(line)
      if (parsed) this.onLine(parsed)
      else this.onOther?.(line)
    }
  }

  private async stats(): Promise<RingStats> {
    const total: RingStats = {missed: 0, entries: 0}
    for (const cpu of await this.session.listDir(`${this.dir}/per_cpu`)) {
      const stats = parseRingStats(await this.session.read(`${this.dir}/per_cpu/${cpu}/stats`).catch(() => ''))
      total.missed += stats.missed
      total.entries += stats.entries
    }
    return total
  }

  /** Drains what the kernel has committed, once per interval (lost() reads its counters). */
  async catchUp(): Promise<void> {
    if (!this.stopped) this.drain()
  }

  /**
   * Ends the stream: recording off first (the instance's tracing_on; the instance is removed at
   * teardown), then the buffer read until empty, bounded by time. What the kernel overwrote, and
   * what is still unread when time runs out, is lost.
   */
  async stop(): Promise<void> {
    if (this.stopped) return
    clearInterval(this.timer)
    clearImmediate(this.pumping)
    await this.session.write(`${this.dir}/tracing_on`, '0')
    const deadline = performance.now() + FINAL_DRAIN_MS
    let stats: RingStats
    for (let dryReads = 0; ; ) {
      const dry = this.drain(Math.max(0, deadline - performance.now()))
      stats = await this.stats()
      if (!dry || stats.entries === 0 || performance.now() >= deadline) break
      // An event whose write was under way when recording stopped shows up a moment later; an
      // entry the pipe will never give (none is known) must not hold diag here for long.
      if (++dryReads >= STRAGGLER_READS) break
      await sleep(1)
    }
    this.stopped = true
    this.missedNow = stats.missed
    this.leftAtStop = stats.entries
  }

  /** Events the kernel recorded that diag did not read, since the pipe opened. */
  async lost(): Promise<number> {
    if (!this.stopped) this.missedNow = (await this.stats()).missed
    return this.missedNow - this.missedAtStart + this.leftAtStop
  }

  close(): void {
    clearInterval(this.timer)
    clearImmediate(this.pumping)
    closeSync(this.fd)
  }
}
