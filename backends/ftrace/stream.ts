import {readdir} from 'node:fs/promises'

import type {RunContext} from '../runner.js'
import {RawPipe, type RawEventSpec} from './raw-pipe.js'
import type {RawEvent} from './ring-buffer.js'
import type {RingReader} from './ring-reader.js'
import {TracePipe, type TraceLine} from './trace-pipe.js'
import {TracefsSession} from './tracefs-session.js'

// Per-CPU ring buffer of the private instance: big enough that a poll every 100 ms keeps up with
// a busy syscall stream on small machines.
const BUFFER_KB = 8192

/**
 * Keeps diag's own threads out of its streams: reading trace_pipe makes syscalls (and calls
 * vfs_read), which would otherwise become events to read, without end. set_event_notrace_pid
 * (5.8+) takes every thread, and set_ftrace_notrace_pid does the same for the function tracer;
 * on older kernels a filter on each event drops the main thread, which is the one that reads.
 */
export async function excludeSelf(session: TracefsSession, dir: string, events: string[], functionTracer: boolean): Promise<void> {
  const threads = (await readdir('/proc/self/task')).join(' ')
  const file = functionTracer ? 'set_ftrace_notrace_pid' : 'set_event_notrace_pid'
  if (await session.exists(`${dir}/${file}`)) return session.write(`${dir}/${file}`, threads)
  for (const event of events) await session.write(`${dir}/events/${event}/filter`, `common_pid != ${process.pid}`)
}

/** The instance's clock: "mono" (monotonic across CPUs, NMI-safe) where the kernel has it, else "global". */
async function useCrossCpuClock(session: TracefsSession, dir: string): Promise<string | undefined> {
  const clocks = (await session.read(`${dir}/trace_clock`)).replace(/[[\]]/g, '').split(/\s+/)
  const clock = ['mono', 'global'].find((c) => clocks.includes(c))
  if (clock) await session.write(`${dir}/trace_clock`, clock)
  return clock
}

export interface EventStream {
  session: TracefsSession
  /** The instance's directory, relative to the tracefs root. */
  dir: string
  pipe: RingReader
  attach: string
}

/** What every event stream is set up with, whichever file it is then read from. */
export interface StreamOptions {
  /** false for tools that measure the whole system even when a command is given. */
  filterPid?: boolean
  /**
   * false for events diag's own threads do not feed back into (block I/O, scheduling): the
   * kernel files an event that interrupt context records under whatever task was running, so
   * leaving diag's threads out would drop completions and wakeups that are not diag's.
   */
  excludeSelf?: boolean
  /** Lines carry the thread group (record-tgid, where the kernel has the option). */
  recordTgid?: boolean
  /**
   * Timestamps comparable across CPUs, for tools that pair two events (an I/O's issue and
   * completion, a wakeup and the switch to it) that can happen on different CPUs: the default
   * "local" clock is each CPU's own, and can put a completion before its issue.
   */
  crossCpuClock?: boolean
  /** Instance options to turn on before the events are enabled ("stacktrace"), where the kernel has them. */
  instanceOptions?: string[]
  /** Filters of the events (by event), set before they are enabled; diag builds them, from numbers. */
  filters?: Record<string, string>
  /** Sets up the function tracer in the instance (filter, pid, tracer) before the pipe opens. */
  functionTracer?: (session: TracefsSession, dir: string) => Promise<void>
}

/**
 * A private instance set up for a stream: made, filtered to the traced process (and the children
 * it forks) when there is one, the events enabled. Each step's undo is recorded as it is taken.
 */
async function prepareInstance(
  ctx: RunContext<unknown>,
  purpose: string,
  events: string[],
  options: StreamOptions,
): Promise<{session: TracefsSession; dir: string; clock?: string}> {
  const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
  const dir = await session.instance(purpose)
  await session.write(`${dir}/buffer_size_kb`, String(BUFFER_KB))
  // The option is the instance's own, and goes with it.
  if (options.recordTgid && (await session.exists(`${dir}/options/record-tgid`))) await session.write(`${dir}/options/record-tgid`, '1')
  const clock = options.crossCpuClock ? await useCrossCpuClock(session, dir) : undefined
  for (const option of options.instanceOptions ?? []) await session.write(`${dir}/options/${option}`, '1')
  if (options.filterPid !== false && ctx.targetPid !== undefined) {
    await session.followProcess(dir, ctx.targetPid)
  } else if (options.excludeSelf !== false) {
    await excludeSelf(session, dir, events, options.functionTracer !== undefined)
  }
  for (const [event, filter] of Object.entries(options.filters ?? {})) await session.write(`${dir}/events/${event}/filter`, filter)
  for (const event of events) await session.enableEvent(dir, event)
  await options.functionTracer?.(session, dir)
  return {session, dir, clock}
}

const eventNames = (events: string[]) => (events.length ? `${events.map((e) => e.replace('/', ':')).join(', ')} events` : 'events')

/** Events from a private instance (see prepareInstance), read as text from its trace_pipe. */
export async function startEventStream(
  ctx: RunContext<unknown>,
  purpose: string,
  events: string[],
  onLine: (line: TraceLine) => void,
  options: StreamOptions & {
    /** Lines that are not an event's first line (a stack trace's " => frame" lines). */
    onOtherLine?: (line: string) => void
  } = {},
): Promise<EventStream> {
  const {session, dir} = await prepareInstance(ctx, purpose, events, options)
  const pipe = await TracePipe.open(session, dir, onLine, {onOther: options.onOtherLine})
  ctx.undo.push(`close ${dir}/trace_pipe`, () => pipe.close())
  return {session, dir, pipe, attach: `${eventNames(events)} from ${dir}/trace_pipe`}
}

/**
 * Events from a private instance (see prepareInstance), read in binary from its per-CPU
 * trace_pipe_raw: for events whose consumer needs only their fields (not the text of a stack
 * trace, nor a tracer's lines), at a fraction of the text's cost. No comm comes with an event.
 * With crossCpuClock, events come in time order across CPUs, as trace_pipe gives them.
 */
export async function startRawEventStream(
  ctx: RunContext<unknown>,
  purpose: string,
  events: RawEventSpec[],
  onEvent: (event: RawEvent) => void,
  options: Omit<StreamOptions, 'instanceOptions' | 'functionTracer'> = {},
): Promise<EventStream> {
  const names = events.map((e) => e.event)
  const {session, dir, clock} = await prepareInstance(ctx, purpose, names, options)
  // "mono" is the clock Node's hrtime reads (CLOCK_MONOTONIC).
  const clockNowNs = clock === 'mono' ? () => Number(process.hrtime.bigint()) : undefined
  const pipe = await RawPipe.open(session, dir, events, onEvent, {ordered: options.crossCpuClock, clockNowNs})
  ctx.undo.push(`close ${dir}/per_cpu/*/trace_pipe_raw`, () => pipe.close())
  return {session, dir, pipe, attach: `${eventNames(names)} from ${dir}/per_cpu/cpu*/trace_pipe_raw`}
}
