import {type Collector, type Runner, RowQueue, type RowStream} from '../../backends/runner.js'
import type {RawEventSpec} from '../../backends/ftrace/raw-pipe.js'
import type {RawEvent} from '../../backends/ftrace/ring-buffer.js'
import {startRawEventStream} from '../../backends/ftrace/stream.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import {NotSupportedError} from '../../src/errors.js'
import type {Row} from '../../src/result/model.js'
import {wallTime} from '../../src/system/clock.js'
import {type ThreadInfo, TracedThreads} from '../../src/system/threads.js'
import {COLUMNS, type GethostlatencyOptions, NAME} from './tool.js'

// The first argument (the host name) as the probe syntax names its register, by architecture.
const FIRST_ARGUMENT: Record<string, string> = {x64: '%di', arm64: '%x0'}
const RETURN_SUFFIX = '_return'

/** The field the entry uprobe fetches the host name into (null in its event when the read faulted). */
const HOST_FIELD = 'host'

/**
 * Pairs each lookup's entry with its return on the same thread (a stack per thread, should one
 * lookup ever run inside another) into a row. An entry without its return (still running at the
 * end) makes no row; a return without its entry (the entry came before tracing) neither.
 */
export class LookupPairing {
  private readonly open = new Map<number, {lookup: string; timestamp: number; host: string | null}[]>()

  constructor(
    private readonly threads: ThreadInfo,
    private readonly toTime: (timestamp: number) => string = wallTime,
  ) {}

  /** The row an event completes, if it does. */
  event(event: RawEvent): Row | undefined {
    const ret = event.event.endsWith(RETURN_SUFFIX)
    const lookup = ret ? event.event.slice(0, -RETURN_SUFFIX.length) : event.event
    const stack = this.open.get(event.pid) ?? []
    if (!ret) {
      stack.push({lookup, timestamp: event.timestamp, host: (event.fields[HOST_FIELD] as string | null) ?? null})
      this.open.set(event.pid, stack)
      return undefined
    }
    const at = stack.map((e) => e.lookup).lastIndexOf(lookup)
    if (at < 0) return undefined
    const [entry] = stack.splice(at, 1)
    if (stack.length === 0) this.open.delete(event.pid)
    return {
      time: this.toTime(event.timestamp),
      pid: this.threads.groupOf(event.pid) ?? event.pid,
      comm: this.threads.nameOf(event.pid),
      latMs: Math.round((event.timestamp - entry.timestamp) * 1e6) / 1e3,
      host: entry.host,
    }
  }
}

/**
 * uprobe_events: an entry uprobe (fetching the host string) and a return uprobe on each lookup
 * function, defined in diag's pid-named group, enabled in a private instance (filtered to the
 * traced process), read in binary from its per-CPU trace_pipe_raw in time order and paired in diag
 * into rows. A thread is named from /proc, else the kernel's comm cache, and placed in its process
 * from /proc, else record-tgid's saved_tgids.
 */
export const uprobeEvents: Runner<GethostlatencyOptions> = {
  async start(ctx): Promise<Collector & RowStream> {
    const register = FIRST_ARGUMENT[process.arch]
    if (!register) throw new NotSupportedError(`diag does not know which register holds the first argument on ${process.arch}`)
    const {libc} = ctx.options
    const definitions = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
    const events: RawEventSpec[] = []
    for (const {name, offset} of libc.functions) {
      events.push({event: await definitions.uprobe(NAME, name, {path: libc.path, offset}, false, [`${HOST_FIELD}=+0(${register}):string`]), fields: [HOST_FIELD]})
      events.push({event: await definitions.uprobe(NAME, `${name}${RETURN_SUFFIX}`, {path: libc.path, offset}, true), fields: []})
    }
    const queue = new RowQueue()
    const threads = new TracedThreads(ctx.probe.tracefs!)
    const pairing = new LookupPairing(threads)
    const stream = await startRawEventStream(
      ctx,
      NAME,
      events,
      (event) => {
        const row = pairing.event(event)
        if (row) queue.push(row)
      },
      {recordTgid: true, crossCpuClock: true},
    )
    return {
      attach: `uprobes on ${libc.functions.map((f) => f.name).join(', ')} in ${libc.path} (${libc.source}), events from ${stream.attach.split(' from ')[1]}`,
      onRows: (emit) => queue.onRows(emit),
      async collect() {
        await stream.pipe.catchUp()
        threads.forget()
        return {kind: 'rows', columns: COLUMNS, rows: []}
      },
      stop: () => stream.pipe.stop(),
      lost: () => stream.pipe.lost(),
    }
  },
}
