import {closeSync, constants, openSync, readSync} from 'node:fs'
import {StringDecoder} from 'node:string_decoder'
import {DRAIN_SLICE_MS, RingReader} from './ring-reader.js'
import type {TracefsSession} from './tracefs-session.js'

export {parseRingStats, type RingStats} from './ring-reader.js'

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

const CHUNK = 1024 * 1024
// A line longer than this is not an event line of any event diag reads; it is dropped rather than
// buffered, so memory stays bounded whatever the kernel writes.
const MAX_LINE = 64 * 1024

/** An instance's text trace_pipe, read as RingReader describes; each line parsed and handed on. */
export class TracePipe<Line = TraceLine> extends RingReader {
  private partial = ''
  private readonly buffer = Buffer.alloc(CHUNK)
  // Keeps a character split between two reads whole.
  private readonly decoder = new StringDecoder('utf8')

  private constructor(
    private readonly fd: number,
    session: TracefsSession,
    dir: string,
    private readonly onLine: (line: Line) => void,
    private readonly parse: (text: string) => Line | undefined,
    sliceMs: number,
    /** Lines that are not an event's first line: the " => frame" lines of a stack trace. */
    private readonly onOther?: (line: string) => void,
  ) {
    super(session, dir, sliceMs)
  }

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
    await pipe.begin(pollMs)
    return pipe
  }

  protected readOnce(): boolean {
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

  protected closeFiles(): void {
    closeSync(this.fd)
  }
}
