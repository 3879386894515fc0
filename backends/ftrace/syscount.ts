import type {SyscountOptions} from '../../src/plan/options.js'
import {countsFrom, syscallName} from '../../src/result/normalize.js'
import {Deltas} from '../../src/result/deltas.js'
import type {Collector, Runner} from '../runner.js'
import {parseHist} from './hist.js'
import {startEventStream} from './stream.js'
import {TracefsSession} from './tracefs-session.js'

/** syscount from the raw_syscalls:sys_enter event stream, counted in diag. */
export const stream: Runner<SyscountOptions> = {
  async start(ctx): Promise<Collector> {
    const {options} = ctx
    let counts = new Map<string, number>()
    const add = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)
    const {pipe, attach} = await startEventStream(ctx, 'syscount', ['raw_syscalls/sys_enter'], (line) => {
      if (line.event !== 'sys_enter') return
      const nr = /^NR (\d+)/.exec(line.body)
      if (!nr) return
      add(options.by === 'process' ? `${line.comm} [${line.pid}]` : syscallName(Number(nr[1])))
    })
    return {
      attach,
      async collect() {
        await pipe.catchUp()
        const interval = counts
        counts = new Map()
        return countsFrom(options.by, interval, options.top, options.syscalls)
      },
      stop: () => pipe.stop(),
      lost: () => pipe.lost(),
    }
  },
}

/**
 * syscount from a hist trigger on raw_syscalls:sys_enter in a private instance: the kernel
 * aggregates, diag reads the `hist` file once per interval (cumulative, turned into deltas).
 */
export const hist: Runner<SyscountOptions> = {
  async start({options, probe, files, pid, undo, targetPid}): Promise<Collector> {
    const session = new TracefsSession(files, probe.tracefs!, pid, undo)
    const dir = await session.instance('syscount')
    if (targetPid !== undefined) await session.followProcess(dir, targetPid)
    const key = options.by === 'process' ? 'common_pid.execname' : 'id.syscall'
    const trigger = `hist:keys=${key}:vals=hitcount:sort=hitcount:size=8192`
    await session.addTrigger(dir, 'raw_syscalls/sys_enter', trigger)
    const deltas = new Deltas()
    let dropped = 0
    return {
      attach: `${trigger} on ${dir}/events/raw_syscalls/sys_enter`,
      async collect() {
        const table = parseHist(await session.read(`${dir}/events/raw_syscalls/sys_enter/hist`))
        dropped = table.dropped
        const current = new Map<string, number>()
        for (const entry of table.entries) {
          const name =
            options.by === 'process'
              ? `${entry.keys.common_pid.text} [${entry.keys.common_pid.number}]`
              : syscallName(entry.keys.id.number)
          current.set(name, (current.get(name) ?? 0) + entry.hitcount)
        }
        return countsFrom(options.by, deltas.next(current), options.top, options.syscalls)
      },
      lost: async () => dropped,
    }
  },
}
