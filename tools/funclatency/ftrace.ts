import {readdir} from 'node:fs/promises'

import {type LatencyHist, pairLatency} from '../../backends/ftrace/latency-hist.js'
import {excludeSelf} from '../../backends/ftrace/stream.js'
import {TracePipe} from '../../backends/ftrace/trace-pipe.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import type {Collector, Runner} from '../../backends/runner.js'
import {BusyError} from '../../src/errors.js'
import type {Histogram} from '../../src/result/model.js'
import {addSlots, log2Histogram, log2Slot} from '../../src/result/normalize.js'
import {checkFunctionPattern, matchedFunctions} from '../../src/tracefs/functions.js'
import {eventGroup} from '../../src/tracefs/names.js'
import {UNIT_NS} from '../../src/plan/options.js'
import type {FunclatencyOptions} from './tool.js'

// Threads a start or end table holds in one run (a hist table never frees an entry); smaller
// than the pairing default, since each function has its own pair of tables.
const THREADS = 8192

/**
 * funclatency in the kernel, without BPF: per function, a kprobe and a kretprobe event, a
 * pid-named synthetic event that the return fires with the call's duration (joined on the
 * thread), and a hist trigger on it, as biolatency's and runqlat's hist backends do. Nanoseconds
 * are counted in the kernel's log2 buckets (see LatencyPairing.resolution); µs and ms by value.
 * A function that calls itself has only its innermost call timed: a start timestamp is read once.
 */
export const kprobeHist: Runner<FunclatencyOptions> = {
  async start(ctx): Promise<Collector> {
    const {options} = ctx
    // Routing passes this candidate over when the pattern matches more than its limit (tool.ts).
    const functions = matchedFunctions(ctx.functions)
    const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
    const dir = await session.instance('funclatency')
    if (ctx.targetPid !== undefined) await session.followProcess(dir, ctx.targetPid)
    const pairings: {fn: string; latency: LatencyHist}[] = []
    for (const [i, fn] of functions.entries()) {
      const entry = await session.kprobe('funclatency', `enter_${i}`, fn)
      const exit = await session.kprobe('funclatency', `exit_${i}`, fn, true)
      const latency = await pairLatency(session, dir, {
        purpose: `funclatency_${i}`,
        start: {event: entry, key: 'common_pid'},
        end: {event: exit, key: 'common_pid'},
        resolution: options.unit === 'nsecs' ? 'log2-nsecs' : 'usecs',
        keys: THREADS,
      })
      pairings.push({fn, latency})
    }
    const group = eventGroup(ctx.pid, 'funclatency')
    const who = ctx.targetPid === undefined ? 'all processes' : `pid ${ctx.targetPid} and its children (set_event_pid)`
    return {
      attach: `kprobe/kretprobe events ${group}/enter_N and exit_N on ${functions.length} functions (${options.pattern}), each pair joined by a synthetic event ${group}_N with a hist trigger, in ${dir} (${who})`,
      async collect() {
        const histograms: Histogram[] = []
        for (const {fn, latency} of pairings) histograms.push(...(await latency.read(options.unit, () => fn)))
        return {kind: 'histograms', unit: options.unit, labelKey: 'function', histograms}
      },
      async lost() {
        let dropped = 0
        for (const {latency} of pairings) dropped += await latency.dropped()
        return dropped
      },
    }
  },
}

/** One line of function_graph output: a call's end with its duration, or its opening brace. */
export interface GraphLine {
  cpu: number
  /** The function whose call this line opens ("fn() {") or ends ("fn();", "} /* fn *\/"), when the line names it. */
  function?: string
  /** For a line that ends a call. */
  durationNs?: number
  opens: boolean
}

// " 1)   0.853 us    |  __do_sys_getppid();"   " 1)               |  vfs_read() {"
// " 1) + 12.345 us   |  } /* vfs_read */"       (the mark before the duration flags long calls)
const GRAPH_LINE = /^\s*(\d+)\)\s+(?:[+!#*@$]\s+)?(?:(\d+(?:\.\d+)?) us\s+)?\|\s+(.*?)\s*$/

export function parseGraphLine(text: string): GraphLine | undefined {
  const m = GRAPH_LINE.exec(text)
  if (!m) return undefined
  const cpu = Number(m[1])
  const durationNs = m[2] === undefined ? undefined : Math.round(Number(m[2]) * 1000)
  const body = m[3]
  let call: RegExpExecArray | null
  if ((call = /^([\w.]+)\(\);$/.exec(body)) && durationNs !== undefined) return {cpu, function: call[1], durationNs, opens: false}
  if ((call = /^([\w.]+)\(\) \{$/.exec(body))) return {cpu, function: call[1], opens: true}
  if ((call = /^\}(?: \/\* ([\w.]+) \*\/)?$/.exec(body)) && durationNs !== undefined) return {cpu, function: call[1], durationNs, opens: false}
  return undefined
}

/** Options of the function_graph tracer that shape the lines parseGraphLine reads. */
const GRAPH_OPTIONS: [string, string][] = [
  ['funcgraph-duration', '1'],
  ['funcgraph-cpu', '1'],
  ['funcgraph-proc', '0'],
  ['funcgraph-abstime', '0'],
  ['funcgraph-tail', '1'], // the closing brace names its function
  ['funcgraph-retval', '0'],
  ['latency-format', '0'],
]

/**
 * funclatency from the function_graph tracer's durations, read from trace_pipe (perf-tools'
 * funcslower way): set_ftrace_filter holds the pattern, so each matching call is a graph of its
 * own with its duration. In a private instance where the kernel allows function_graph there
 * (its available_tracers lists it; not 4.9 or 6.1); elsewhere the tracer is the top level's only, taken under diag's lock and refused when
 * anyone else uses it, every file it changes restored at the end.
 */
export const graph: Runner<FunclatencyOptions> = {
  async start(ctx): Promise<Collector> {
    const {options} = ctx
    checkFunctionPattern(options.pattern)
    const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
    const probeDir = await session.instance('funclatency')
    const tracers = await session.read(`${probeDir}/available_tracers`).catch(() => '')
    const inInstance = tracers.split(/\s+/).includes('function_graph')
    const dir = inInstance ? probeDir : '.'
    const change = async (file: string, value: string) => {
      const path = `${dir}/${file}`
      if (inInstance) return session.write(path, value)
      const before = (await session.read(path)).trim()
      if (before !== value) await session.set(path, value, before)
    }
    if (!inInstance) await takeTopLevel(session)
    for (const [option, value] of GRAPH_OPTIONS) if (await session.exists(`${dir}/options/${option}`)) await change(`options/${option}`, value)
    // A threshold would leave out the calls faster than it.
    if (await session.exists(`${dir}/tracing_thresh`)) await change('tracing_thresh', '0')
    await (inInstance ? session.write(`${dir}/set_ftrace_filter`, options.pattern) : session.set(`${dir}/set_ftrace_filter`, options.pattern, ''))
    if (ctx.targetPid !== undefined) {
      if (await session.exists(`${dir}/options/function-fork`)) await change('options/function-fork', '1')
      await session.set(`${dir}/set_ftrace_pid`, String(ctx.targetPid), '')
    } else if (inInstance) await excludeSelf(session, dir, [], true)
    else if (await session.exists('set_ftrace_notrace_pid')) {
      // diag's own reads of trace_pipe call functions a pattern may match (vfs_read).
      await session.set('set_ftrace_notrace_pid', (await readdir('/proc/self/task')).join(' '), '')
    }
    if (!inInstance) {
      // trace_pipe's reader turns recording off at the end (TracePipe.stop); the top level's goes back on.
      const on = (await session.read('tracing_on')).trim()
      ctx.undo.push('restore tracing_on', () => session.write('tracing_on', on))
    }
    // Setting the tracer empties the buffer: what the pipe then gives is this run's.
    await session.set(`${dir}/current_tracer`, 'function_graph', 'nop')

    let slots = new Map<string, Map<number, number>>()
    const open = new Map<number, string[]>()
    const only = matchedFunctions(ctx.functions).length === 1 ? ctx.functions![0] : undefined
    const perUnit = UNIT_NS[options.unit]
    let unnamed = 0
    const pipe = await TracePipe.open<GraphLine>(
      session,
      dir,
      (line) => {
        const stack = open.get(line.cpu) ?? []
        open.set(line.cpu, stack)
        if (line.opens) return void stack.push(line.function!)
        const fn = line.function ?? stack.pop() ?? only
        if (line.function && stack.at(-1) === line.function) stack.pop()
        if (!fn) return void unnamed++
        const fnSlots = slots.get(fn) ?? new Map<number, number>()
        slots.set(fn, fnSlots)
        addSlots(fnSlots, log2Slot(Math.floor(line.durationNs! / perUnit)), 1)
      },
      {parse: parseGraphLine},
    )
    ctx.undo.push(`close ${dir}/trace_pipe`, () => pipe.close())
    const where = inInstance ? `instance ${dir}` : 'the top level (this kernel has no function_graph in instances)'
    const who = ctx.targetPid === undefined ? 'all processes' : `pid ${ctx.targetPid} and its children (set_ftrace_pid)`
    return {
      attach: `function_graph tracer with set_ftrace_filter ${options.pattern}, durations from trace_pipe, in ${where} (${who})`,
      async collect() {
        await pipe.catchUp()
        const interval = slots
        slots = new Map()
        const histograms = [...interval].map(([fn, s]) => log2Histogram(fn, s)).sort((a, b) => (a.label ?? '').localeCompare(b.label ?? ''))
        return {kind: 'histograms', unit: options.unit, labelKey: 'function', histograms}
      },
      stop: () => pipe.stop(),
      lost: async () => (await pipe.lost()) + unnamed,
    }
  },
}

/**
 * The top level's function tracing, for a run: under the lock the function profiler takes too
 * (both use the top-level set_ftrace_filter), and refused when another tool has a tracer, the
 * profiler or a function filter there.
 */
async function takeTopLevel(session: TracefsSession): Promise<void> {
  await session.lock('function-profiler')
  const tracer = (await session.read('current_tracer')).trim()
  if (tracer !== 'nop') throw new BusyError(`the top-level tracer is in use (current_tracer is ${tracer}); diag will not change it`)
  if ((await session.exists('function_profile_enabled')) && (await session.read('function_profile_enabled')).trim() !== '0')
    throw new BusyError('the function profiler is enabled by another tool (function_profile_enabled is 1)')
  for (const file of ['set_ftrace_filter', 'set_graph_function', 'set_ftrace_pid', 'set_ftrace_notrace_pid']) {
    if (!(await session.exists(file))) continue
    const lines = (await session.read(file)).split('\n').map((line) => line.trim())
    // Unset, these files hold a comment ("#### all functions enabled ####") or "no pid".
    if (!lines.every((line) => line === '' || line.startsWith('#') || line === 'no pid'))
      throw new BusyError(`${file} is set by another tool; diag will not change it`)
  }
}
