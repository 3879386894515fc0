import {BusyError} from '../../src/errors.js'
import type {FunccountOptions, FuncprofileOptions} from '../../src/plan/options.js'
import {Deltas} from '../../src/result/deltas.js'
import type {Profile} from '../../src/result/model.js'
import {countsFrom} from '../../src/result/normalize.js'
import {checkFunctionPattern, matchedFunctions} from '../../src/tracefs/functions.js'
import type {Collector, RunContext, Runner} from '../runner.js'
import {startEventStream} from './stream.js'
import {TracefsSession} from './tracefs-session.js'

/** One function's row of trace_stat/functionN, all times in microseconds as the kernel prints them. */
interface ProfilerRow {
  hits: number
  totalUs: number
  /** Sum of squared durations, recovered from the kernel's sample variance (s^2, in us^2). */
  sumSquaresUs2: number
}

// "  vfs_read                 1001    1234.567 us     1.233 us        0.123 us"
const STAT_ROW = /^\s*(\S+)\s+(\d+)\s+([\d.]+) us\s+([\d.]+) us\s+([\d.]+) us/

/** Every CPU's trace_stat/function<N> table, summed per function. */
export function parseProfiler(tables: string[]): Map<string, ProfilerRow> {
  const rows = new Map<string, ProfilerRow>()
  for (const table of tables) {
    for (const line of table.split('\n')) {
      const m = STAT_ROW.exec(line)
      if (!m) continue
      const hits = Number(m[2])
      const total = Number(m[3])
      const variance = Number(m[5])
      const mean = hits ? total / hits : 0
      const row = rows.get(m[1]) ?? {hits: 0, totalUs: 0, sumSquaresUs2: 0}
      row.hits += hits
      row.totalUs += total
      row.sumSquaresUs2 += variance * Math.max(0, hits - 1) + hits * mean * mean
      rows.set(m[1], row)
    }
  }
  return rows
}

/**
 * The function profiler, which only the top level has: taken under diag's lock, and refused
 * when anyone else uses the profiler, the function tracer or the top-level filter.
 */
async function startProfiler(ctx: RunContext<unknown>, pattern: string): Promise<{session: TracefsSession; read: () => Promise<Map<string, ProfilerRow>>}> {
  checkFunctionPattern(pattern)
  const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
  await session.lock('function-profiler')
  if ((await session.read('function_profile_enabled')).trim() !== '0')
    throw new BusyError('the function profiler is already enabled by another tool (function_profile_enabled is 1)')
  const tracer = (await session.read('current_tracer')).trim()
  if (tracer !== 'nop') throw new BusyError(`the top-level tracer is in use (current_tracer is ${tracer}); diag will not change its filter`)
  const filter = await session.read('set_ftrace_filter')
  if (!/^(#.*\n?)*$/.test(filter)) throw new BusyError('set_ftrace_filter is set by another tool; diag will not change it')
  await session.set('set_ftrace_filter', pattern, '')
  // Switching the profiler off and on again starts its tables from zero.
  await session.set('function_profile_enabled', '1', '0')
  const read = async () => {
    const files = (await session.listDir('trace_stat')).filter((f) => /^function\d+$/.test(f))
    return parseProfiler(await Promise.all(files.map((f) => session.read(`trace_stat/${f}`))))
  }
  return {session, read}
}

/** funccount from the function profiler's hit counts (system-wide: the profiler has no pid filter). */
export const profilerCount: Runner<FunccountOptions> = {
  async start(ctx): Promise<Collector> {
    const profiler = await startProfiler(ctx, ctx.options.pattern)
    const deltas = new Deltas()
    return {
      attach: `function profiler with set_ftrace_filter ${ctx.options.pattern} (all processes)`,
      async collect() {
        const current = new Map([...(await profiler.read())].map(([fn, row]) => [fn, row.hits]))
        return countsFrom('function', deltas.next(current), ctx.options.top)
      },
      lost: async () => 0,
    }
  },
}

/** funcprofile: the profiler's table itself, hits and time per function, per interval. */
export const profilerTable: Runner<FuncprofileOptions> = {
  async start(ctx): Promise<Collector> {
    const profiler = await startProfiler(ctx, ctx.options.pattern)
    let previous = new Map<string, ProfilerRow>()
    return {
      attach: `function profiler with set_ftrace_filter ${ctx.options.pattern} (all processes)`,
      async collect(): Promise<Profile> {
        const current = await profiler.read()
        const rows: Profile['rows'] = []
        for (const [fn, now] of current) {
          const before = previous.get(fn) ?? {hits: 0, totalUs: 0, sumSquaresUs2: 0}
          const hits = now.hits - before.hits
          if (hits <= 0) continue
          const totalUs = now.totalUs - before.totalUs
          const avgUs = totalUs / hits
          const sumSquares = now.sumSquaresUs2 - before.sumSquaresUs2
          const varianceUs2 = hits > 1 ? Math.max(0, (sumSquares - hits * avgUs * avgUs) / (hits - 1)) : 0
          rows.push({function: fn, hits, totalUs, avgUs, varianceUs2})
        }
        previous = current
        rows.sort((a, b) => b.totalUs - a.totalUs || a.function.localeCompare(b.function))
        return {kind: 'profile', rows: rows.slice(0, ctx.options.top)}
      },
      lost: async () => 0,
    }
  },
}

/** funccount from kprobe events and their hit counts in kprobe_profile (all processes). */
export const kprobeProfile: Runner<FunccountOptions> = {
  async start(ctx): Promise<Collector> {
    // Routing passes this candidate over when the pattern matches more than its limit (tools.ts).
    const functions = matchedFunctions(ctx.functions)
    const session = new TracefsSession(ctx.files, ctx.probe.tracefs!, ctx.pid, ctx.undo)
    // The instance is where the probes are enabled (a kprobe counts hits only while enabled).
    const dir = await session.instance('funccount')
    const events = []
    for (const fn of functions) events.push(await session.kprobe('funccount', fn, fn))
    const group = events[0].split('/')[0]
    await session.enableEvent(dir, group)
    await session.write(`${dir}/tracing_on`, '0') // only the counts are wanted, not the records
    const deltas = new Deltas()
    return {
      attach: `kprobe events ${group}/* on ${functions.length} functions, counted in kprobe_profile (all processes)`,
      async collect() {
        const current = new Map<string, number>()
        for (const line of (await session.read('kprobe_profile')).split('\n')) {
          const [name, hits] = line.trim().split(/\s+/)
          const event = name?.includes('/') ? name : `${group}/${name}`
          if (event?.startsWith(`${group}/`)) current.set(event.slice(group.length + 1), Number(hits))
        }
        return countsFrom('function', deltas.next(current), ctx.options.top)
      },
      lost: async () => 0,
    }
  },
}

/** funccount from the function tracer's events in a private instance, counted in diag. */
export const functionStream: Runner<FunccountOptions> = {
  async start(ctx): Promise<Collector> {
    checkFunctionPattern(ctx.options.pattern)
    let counts = new Map<string, number>()
    const {pipe, attach} = await startEventStream(
      ctx,
      'funccount',
      [],
      (line) => {
        if (line.event !== 'function') return
        const fn = line.body.split(/\s/)[0]
        counts.set(fn, (counts.get(fn) ?? 0) + 1)
      },
      {
        async functionTracer(session, dir) {
          await session.set(`${dir}/set_ftrace_filter`, ctx.options.pattern, '')
          if (ctx.targetPid !== undefined) {
            if (await session.exists(`${dir}/options/function-fork`)) await session.write(`${dir}/options/function-fork`, '1')
            await session.set(`${dir}/set_ftrace_pid`, String(ctx.targetPid), '')
          }
          await session.set(`${dir}/current_tracer`, 'function', 'nop')
        },
      },
    )
    return {
      attach: `function tracer on ${ctx.options.pattern}: ${attach}`,
      async collect() {
        await pipe.catchUp()
        const interval = counts
        counts = new Map()
        return countsFrom('function', interval, ctx.options.top)
      },
      stop: () => pipe.stop(),
      lost: () => pipe.lost(),
    }
  },
}
