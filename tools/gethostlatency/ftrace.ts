import {type Collector, type Runner, RowQueue, type RowStream} from '../../backends/runner.js'
import {startEventStream} from '../../backends/ftrace/stream.js'
import {type TraceLine, commOf} from '../../backends/ftrace/trace-pipe.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import {NotSupportedError} from '../../src/errors.js'
import type {Row} from '../../src/result/model.js'
import {wallTime} from '../../src/system/clock.js'
import {COLUMNS, type GethostlatencyOptions, NAME} from './tool.js'

// The first argument (the host name) as the probe syntax names its register, by architecture.
const FIRST_ARGUMENT: Record<string, string> = {x64: '%di', arm64: '%x0'}
const RETURN_SUFFIX = '_return'

/** The host string of an entry event's body: `(0x7f0c1d2e3f40) host="localhost"`; null when the read faulted. */
export function hostOf(body: string): string | null {
  const m = /\shost="(.*)"$/.exec(body)
  return m ? m[1] : null
}

/**
 * Pairs each lookup's entry with its return on the same thread (a stack per thread, should one
 * lookup ever run inside another) into a row. An entry without its return (still running at the
 * end) makes no row; a return without its entry (the entry came before tracing) neither.
 */
export class LookupPairing {
  private readonly open = new Map<number, {lookup: string; timestamp: number; host: string | null}[]>()

  constructor(private readonly toTime: (timestamp: number) => string = wallTime) {}

  /** The row a line completes, if it does. */
  line(line: TraceLine): Row | undefined {
    const ret = line.event.endsWith(RETURN_SUFFIX)
    const lookup = ret ? line.event.slice(0, -RETURN_SUFFIX.length) : line.event
    const stack = this.open.get(line.pid) ?? []
    if (!ret) {
      stack.push({lookup, timestamp: line.timestamp, host: hostOf(line.body)})
      this.open.set(line.pid, stack)
      return undefined
    }
    const at = stack.map((e) => e.lookup).lastIndexOf(lookup)
    if (at < 0) return undefined
    const [entry] = stack.splice(at, 1)
    if (stack.length === 0) this.open.delete(line.pid)
    return {
      time: this.toTime(line.timestamp),
      pid: line.tgid ?? line.pid,
      comm: commOf(line),
      latMs: Math.round((line.timestamp - entry.timestamp) * 1e6) / 1e3,
      host: entry.host,
    }
  }
}

/**
 * uprobe_events: an entry uprobe (fetching the host string) and a return uprobe on each lookup
 * function, defined in diag's pid-named group, enabled in a private instance (filtered to the
 * traced process), their lines paired in diag into rows as trace_pipe gives them.
 */
export const uprobeEvents: Runner<GethostlatencyOptions> = {
  async start(ctx): Promise<Collector & RowStream> {
    const register = FIRST_ARGUMENT[process.arch]
    if (!register) throw new NotSupportedError(`diag does not know which register holds the first argument on ${process.arch}`)
    const {libc} = ctx.options
    const definitions = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
    const events: string[] = []
    for (const {name, offset} of libc.functions) {
      events.push(await definitions.uprobe(NAME, name, {path: libc.path, offset}, false, [`host=+0(${register}):string`]))
      events.push(await definitions.uprobe(NAME, `${name}${RETURN_SUFFIX}`, {path: libc.path, offset}, true))
    }
    const queue = new RowQueue()
    const pairing = new LookupPairing()
    const stream = await startEventStream(
      ctx,
      NAME,
      events,
      (line) => {
        const row = pairing.line(line)
        if (row) queue.push(row)
      },
      {recordTgid: true, crossCpuClock: true},
    )
    return {
      attach: `uprobes on ${libc.functions.map((f) => f.name).join(', ')} in ${libc.path} (${libc.source}), events from ${stream.attach.split(' from ')[1]}`,
      onRows: (emit) => queue.onRows(emit),
      async collect() {
        await stream.pipe.catchUp()
        return {kind: 'rows', columns: COLUMNS, rows: []}
      },
      stop: () => stream.pipe.stop(),
      lost: () => stream.pipe.lost(),
    }
  },
}
