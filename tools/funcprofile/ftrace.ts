import type {Collector, Runner} from '../../backends/runner.js'
import {type ProfilerRow, startProfiler} from '../../backends/ftrace/function-profiler.js'
import type {Profile} from '../../src/result/model.js'
import type {FuncprofileOptions} from './tool.js'

/** funcprofile: the profiler's table itself, hits and time per function, per interval. */
export const profiler: Runner<FuncprofileOptions> = {
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

