import {closeSync, constants, openSync, readSync} from 'node:fs'

import type {TracefsSession} from './tracefs-session.js'

/** One event line of trace_pipe, split into what every event has and its own text. */
export interface TraceLine {
  comm: string
  /** The thread's id (the kernel's pid). */
  pid: number
  /** Its process (thread group), where the instance records tgids (options/record-tgid, 4.13+). */
  tgid?: number
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
const LINE = /^\s*(.+)-(\d+)\s+(?:\(\s*(\d+|-+)\)\s+)?\[\d+\][^:]*?\s(\d+\.\d+):\s+(?:(\w+):\s)?(.*)$/

export function parseTraceLine(line: string): TraceLine | undefined {
  const m = LINE.exec(line)
  if (!m) return undefined
  const tgid = m[3] && /^\d+$/.test(m[3]) ? Number(m[3]) : undefined
  return {comm: m[1].trim(), pid: Number(m[2]), tgid, timestamp: Number(m[4]), event: m[5] ?? 'function', body: m[6]}
}

const CHUNK = 256 * 1024
// At most this much per drain, so that a stream that never runs dry (a busy system) cannot keep
// diag from reaching its next interval or its teardown; the rest waits for the next drain.
const DRAIN_LIMIT = 16 * 1024 * 1024
// A line longer than this is not an event line of any event diag reads; it is dropped rather than
// buffered, so memory stays bounded whatever the kernel writes.
const MAX_LINE = 64 * 1024

/**
 * Reads an instance's trace_pipe without blocking (O_NONBLOCK: EAGAIN when empty), so that
 * closing never waits on a read that cannot end. Reads happen on the main thread: diag's other
 * threads are excluded from its streams (see stream.ts), and a read must not feed the stream
 * it reads. It is drained every `pollMs` in the background, so the ring buffer does not overrun
 * between intervals, and once more at each collect.
 */
export class TracePipe {
  private partial = ''
  private timer: NodeJS.Timeout | undefined
  private overrunAtStart = 0
  private readonly buffer = Buffer.alloc(CHUNK)
  private failure: unknown

  private constructor(
    private readonly fd: number,
    private readonly session: TracefsSession,
    private readonly dir: string,
    private readonly onLine: (line: TraceLine) => void,
  ) {}

  static async open(session: TracefsSession, dir: string, onLine: (line: TraceLine) => void, pollMs = 100): Promise<TracePipe> {
    const fd = openSync(`${session.root}/${dir}/trace_pipe`, constants.O_RDONLY | constants.O_NONBLOCK)
    const pipe = new TracePipe(fd, session, dir, onLine)
    pipe.overrunAtStart = await pipe.overruns()
    // A failure in the background drain is kept and raised by the next collect, where the
    // session's teardown will run, rather than thrown from a timer where nothing catches it.
    pipe.timer = setInterval(() => {
      try {
        pipe.drain()
      } catch (error) {
        pipe.failure ??= error
        clearInterval(pipe.timer)
      }
    }, pollMs)
    return pipe
  }

  /** Reads what the kernel has committed so far (up to DRAIN_LIMIT) and feeds it to onLine. */
  drain(): void {
    if (this.failure) throw this.failure
    for (let total = 0; total < DRAIN_LIMIT; ) {
      let bytesRead: number
      try {
        bytesRead = readSync(this.fd, this.buffer, 0, CHUNK, null)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return
        throw error
      }
      if (bytesRead === 0) return
      total += bytesRead
      this.feed(this.buffer.toString('utf8', 0, bytesRead))
    }
  }

  private feed(text: string): void {
    const lines = (this.partial + text).split('\n')
    this.partial = lines.pop() ?? ''
    if (this.partial.length > MAX_LINE) this.partial = ''
    for (const line of lines) {
      const parsed = parseTraceLine(line)
      if (parsed) this.onLine(parsed)
    }
  }

  /** Events the kernel overwrote before diag read them, summed over CPUs (per_cpu/cpuN/stats). */
  private async overruns(): Promise<number> {
    let total = 0
    for (const cpu of await this.session.listDir(`${this.dir}/per_cpu`)) {
      const stats = await this.session.read(`${this.dir}/per_cpu/${cpu}/stats`).catch(() => '')
      total += Number(/^overrun: (\d+)/m.exec(stats)?.[1] ?? 0) + Number(/^dropped events: (\d+)/m.exec(stats)?.[1] ?? 0)
    }
    return total
  }

  async lost(): Promise<number> {
    return (await this.overruns()) - this.overrunAtStart
  }

  close(): void {
    clearInterval(this.timer)
    closeSync(this.fd)
  }
}
