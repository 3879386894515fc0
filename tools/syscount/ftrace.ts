import {BadInputError} from '../../src/errors.js'
import type {SyscountOptions} from './tool.js'
import {countsFrom, syscallName} from '../../src/result/normalize.js'
import {Deltas} from '../../src/result/deltas.js'
import {ThreadGroups} from '../../src/system/threads.js'
import type {Collector, Runner} from '../../backends/runner.js'
import {parseHist} from '../../backends/ftrace/hist.js'
import {startEventStream} from '../../backends/ftrace/stream.js'
import type {TraceLine} from '../../backends/ftrace/trace-pipe.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'

/**
 * syscount from the raw_syscalls:sys_enter event stream, counted in diag. By process, a line's
 * thread group is the one the kernel recorded (record-tgid), else the one /proc gives.
 */
export const stream: Runner<SyscountOptions> = {
  async start(ctx): Promise<Collector> {
    const {options} = ctx
    const groups = new ThreadGroups()
    let counts = new Map<string, number>()
    const add = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)
    const onLine = (line: TraceLine) => {
      if (line.event !== 'sys_enter') return
      const nr = /^NR (\d+)/.exec(line.body)
      if (!nr) return
      if (options.by === 'syscall') add(syscallName(Number(nr[1])))
      else if (options.by === 'thread') add(`${line.comm} [${line.pid}]`)
      else add(`${line.comm} [${line.tgid ?? groups.groupOf(line.pid) ?? line.pid}]`)
    }
    const {pipe, attach} = await startEventStream(ctx, 'syscount', ['raw_syscalls/sys_enter'], onLine, {recordTgid: options.by === 'process'})
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
    if (options.by === 'process') throw new BadInputError('hist triggers key by thread only; --by process needs another backend')
    const key = options.by === 'syscall' ? 'id.syscall' : 'common_pid.execname'
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
            options.by === 'syscall' ? syscallName(entry.keys.id.number) : `${entry.keys.common_pid.text} [${entry.keys.common_pid.number}]`
          current.set(name, (current.get(name) ?? 0) + entry.hitcount)
        }
        return countsFrom(options.by, deltas.next(current), options.top, options.syscalls)
      },
      lost: async () => dropped,
    }
  },
}
