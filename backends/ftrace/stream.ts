import {readdir} from 'node:fs/promises'

import type {RunContext} from '../runner.js'
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
async function useCrossCpuClock(session: TracefsSession, dir: string): Promise<void> {
  const clocks = (await session.read(`${dir}/trace_clock`)).replace(/[[\]]/g, '').split(/\s+/)
  const clock = ['mono', 'global'].find((c) => clocks.includes(c))
  if (clock) await session.write(`${dir}/trace_clock`, clock)
}

export interface EventStream {
  session: TracefsSession
  /** The instance's directory, relative to the tracefs root. */
  dir: string
  pipe: TracePipe
  attach: string
}

/**
 * Events from a private instance, read from its trace_pipe: the instance is made, filtered to the
 * traced process (and the children it forks) when there is one, the events enabled, the pipe
 * opened. Each step's undo is recorded as it is taken.
 */
export async function startEventStream(
  ctx: RunContext<unknown>,
  purpose: string,
  events: string[],
  onLine: (line: TraceLine) => void,
  options: {
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
    /** Lines that are not an event's first line (a stack trace's " => frame" lines). */
    onOtherLine?: (line: string) => void
    /** Sets up the function tracer in the instance (filter, pid, tracer) before the pipe opens. */
    functionTracer?: (session: TracefsSession, dir: string) => Promise<void>
  } = {},
): Promise<EventStream> {
  const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
  const dir = await session.instance(purpose)
  await session.write(`${dir}/buffer_size_kb`, String(BUFFER_KB))
  // The option is the instance's own, and goes with it.
  if (options.recordTgid && (await session.exists(`${dir}/options/record-tgid`))) await session.write(`${dir}/options/record-tgid`, '1')
  if (options.crossCpuClock) await useCrossCpuClock(session, dir)
  for (const option of options.instanceOptions ?? []) await session.write(`${dir}/options/${option}`, '1')
  if (options.filterPid !== false && ctx.targetPid !== undefined) {
    await session.followProcess(dir, ctx.targetPid)
  } else if (options.excludeSelf !== false) {
    await excludeSelf(session, dir, events, options.functionTracer !== undefined)
  }
  for (const [event, filter] of Object.entries(options.filters ?? {})) await session.write(`${dir}/events/${event}/filter`, filter)
  for (const event of events) await session.enableEvent(dir, event)
  await options.functionTracer?.(session, dir)
  const pipe = await TracePipe.open(session, dir, onLine, {onOther: options.onOtherLine})
  ctx.undo.push(`close ${dir}/trace_pipe`, () => pipe.close())
  const what = events.length ? `${events.map((e) => e.replace('/', ':')).join(', ')} events` : 'events'
  return {session, dir, pipe, attach: `${what} from ${dir}/trace_pipe`}
}
