import {BusyError} from '../../src/errors.js'
import {checkFunctionPattern} from '../../src/tracefs/functions.js'
import type {RunContext} from '../runner.js'
import {TracefsSession} from './tracefs-session.js'

/** One function's row of trace_stat/functionN, all times in microseconds as the kernel prints them. */
export interface ProfilerRow {
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
export async function startProfiler(ctx: RunContext<unknown>, pattern: string): Promise<{session: TracefsSession; read: () => Promise<Map<string, ProfilerRow>>}> {
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

