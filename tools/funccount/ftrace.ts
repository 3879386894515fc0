import type {Collector, Runner} from '../../backends/runner.js'
import {startProfiler} from '../../backends/ftrace/function-profiler.js'
import {startEventStream} from '../../backends/ftrace/stream.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import {Deltas} from '../../src/result/deltas.js'
import {countsFrom} from '../../src/result/normalize.js'
import {checkFunctionPattern, matchedFunctions} from '../../src/tracefs/functions.js'
import type {FunccountOptions} from './tool.js'

/** funccount from the function profiler's hit counts (system-wide: the profiler has no pid filter). */
export const profiler: Runner<FunccountOptions> = {
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

/** funccount from kprobe events and their hit counts in kprobe_profile (all processes). */
export const kprobeProfile: Runner<FunccountOptions> = {
  async start(ctx): Promise<Collector> {
    // Routing passes this candidate over when the pattern matches more than its limit (tool.ts limits).
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
