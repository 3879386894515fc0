import type {HostProbe} from '../src/probe/probe.js'
import type {ResultData, Row} from '../src/result/model.js'
import type {HostFiles} from '../src/system/files.js'
import type {UndoLog} from '../src/system/undo.js'

/**
 * The contract between the tool session (src/run.ts) and a backend. A runner attaches in
 * start(), registering every detach step in `undo` as it goes, so that a failure halfway leaves
 * nothing behind; the session then calls collect() once per interval. A start() that fails with a
 * BackendError or NotSupportedError, before counting anything, is undone and the next usable
 * candidate starts (src/run.ts); any other error ends the run.
 */
export interface RunContext<Options> {
  options: Options
  probe: HostProbe
  files: HostFiles
  undo: UndoLog
  /** diag's own pid, for naming what it creates (instances, events). */
  pid: number
  /** Only this process (its threads) is traced: --pid, or the command diag runs. */
  targetPid?: number
  /**
   * The kernel functions the tool's pattern matches (funccount, funcprofile), read once while
   * routing; absent when the kernel's function list could not be read.
   */
  functions?: string[]
  /** Seconds per interval (--interval), when intervals are asked for. */
  interval?: number
  signal: AbortSignal
}

export interface Collector {
  /** What is attached, in words: "tracepoint raw_syscalls:sys_enter". */
  attach: string
  /** What was gathered since the previous call; starts the next interval. */
  collect(): Promise<ResultData>
  /**
   * Ends gathering before the last collect(), for backends whose events wait in a buffer: the
   * kernel stops recording, and the last collect() then holds everything it recorded.
   */
  stop?(): Promise<void>
  /** Events lost so far (full maps, ring-buffer overruns), or null when the backend cannot tell. */
  lost(): Promise<number | null>
}

export interface Runner<Options = unknown> {
  start(ctx: RunContext<Options>): Promise<Collector>
}

/**
 * A collector that pushes rows as its events happen (rows tools): the session registers its
 * emitter once tracing is attached and prints each batch at once; collect() returns the rows
 * kind without rows of its own, and the session puts the pushed ones in the interval. BPF: a ring buffer (or perf buffer) polled from the event loop;
 * ftrace: trace_pipe lines, paired in diag.
 */
export interface RowStream {
  onRows(emit: (rows: Row[]) => void): void
}

export function isRowStream(collector: Collector): collector is Collector & RowStream {
  return typeof (collector as Partial<RowStream>).onRows === 'function'
}

/**
 * The emitting half of a RowStream: rows made before the session listens (during start) wait,
 * and go out, in order, once it does.
 */
export class RowQueue implements RowStream {
  private emit: ((rows: Row[]) => void) | undefined
  private waiting: Row[] = []

  onRows(emit: (rows: Row[]) => void): void {
    this.emit = emit
    if (this.waiting.length > 0) emit(this.waiting.splice(0))
  }

  push(...rows: Row[]): void {
    this.pushAll(rows)
  }

  /** A batch of any size (spreading a large array into push() would throw). */
  pushAll(rows: Row[]): void {
    if (rows.length === 0) return
    if (this.emit) this.emit(rows)
    else for (const row of rows) this.waiting.push(row)
  }
}
