import {setTimeout as sleep} from 'node:timers/promises'

import type {TracefsSession} from './tracefs-session.js'

// One drain between intervals reads for at most this long, so that a stream that never runs dry
// (a busy system) cannot keep diag from its next interval; the rest waits for the next drain, and
// what the kernel overwrites meanwhile is counted from its overrun counters.
export const DRAIN_SLICE_MS = 50
// At stop, the events are off, so the buffer can only shrink: it is read to the end, for at most
// this long; whatever is still in it then is counted as lost.
const FINAL_DRAIN_MS = 10_000
// Reads of an empty pipe at stop while the counters still show entries, 1 ms apart.
const STRAGGLER_READS = 20

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
 * What every reader of an instance's ring buffer does, whichever file it reads (the text
 * trace_pipe, or the binary per-CPU trace_pipe_raw): it reads without blocking (O_NONBLOCK: EAGAIN
 * when empty), so that closing never waits on a read that cannot end, on the main thread (diag's
 * other threads are excluded from its streams, see stream.ts, and a read must not feed the stream
 * it reads). It is drained in the background, in slices one after another while the buffer does
 * not run dry and every `pollMs` when it does, so the ring buffer does not overrun between
 * intervals, and once more at each collect. stop() turns the instance's recording off and reads
 * the buffer to its end, so that every event the kernel recorded is either read or counted in
 * lost().
 */
export abstract class RingReader {
  private timer: NodeJS.Timeout | undefined
  private pumping: NodeJS.Immediate | undefined
  private missedAtStart = 0
  private missedNow = 0
  private leftAtStop = 0
  private stopped = false
  private failure: unknown

  protected constructor(
    protected readonly session: TracefsSession,
    protected readonly dir: string,
    private readonly sliceMs: number,
  ) {}

  /** Reads once (a chunk, or a batch of pages) and hands on what it read; true when there was nothing to read. */
  protected abstract readOnce(): boolean
  protected abstract closeFiles(): void

  /** Takes the kernel's counters as they are before reading starts, and starts the background drain. */
  protected async begin(pollMs: number): Promise<void> {
    this.missedAtStart = this.missedNow = (await this.stats()).missed
    this.timer = setInterval(() => {
      if (!this.pumping) this.pump()
    }, pollMs)
    this.pumping = setImmediate(this.pump)
  }

  /**
   * One background drain. While the buffer does not run dry (a busy stream), the next slice follows
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

  /** Reads what the kernel has committed so far, for at most `budgetMs`. Returns true when the buffer ran dry. */
  drain(budgetMs = DRAIN_SLICE_MS): boolean {
    if (this.failure) throw this.failure
    const deadline = performance.now() + budgetMs
    do {
      if (this.readOnce()) return true
    } while (performance.now() < deadline)
    return false
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
    this.flush()
    this.stopped = true
    this.missedNow = stats.missed
    this.leftAtStop = stats.entries
  }

  /** Hands on what a reader still holds back at the end (events kept for ordering). */
  protected flush(): void {}

  /** Events the kernel recorded that diag did not read, since the pipe opened. */
  async lost(): Promise<number> {
    if (!this.stopped) this.missedNow = (await this.stats()).missed
    return this.missedNow - this.missedAtStart + this.leftAtStop
  }

  close(): void {
    clearInterval(this.timer)
    clearImmediate(this.pumping)
    this.closeFiles()
  }
}
