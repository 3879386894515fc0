import {BadInputError} from '../../src/errors.js'
import type {SyscountOptions} from './tool.js'
import {countsFrom, syscallName} from '../../src/result/normalize.js'
import {Deltas} from '../../src/result/deltas.js'
import {TaskCounts} from '../../src/result/task-counts.js'
import {TracedThreads} from '../../src/system/threads.js'
import type {Collector, Runner} from '../../backends/runner.js'
import {parseHist} from '../../backends/ftrace/hist.js'
import type {RawEvent} from '../../backends/ftrace/ring-buffer.js'
import {startRawEventStream} from '../../backends/ftrace/stream.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'

/**
 * syscount from the raw_syscalls:sys_enter event stream, read in binary from the per-CPU
 * trace_pipe_raw and counted in diag. Threads are named from /proc, else the kernel's comm cache;
 * by process, a thread's group is the one /proc gives, else the one the kernel recorded
 * (record-tgid's saved_tgids), else itself.
 */
export const stream: Runner<SyscountOptions> = {
  async start(ctx): Promise<Collector> {
    const {options} = ctx
    const threads = new TracedThreads(ctx.probe.tracefs!)
    let bySyscall = new Map<number, number>()
    const byTask = new TaskCounts()
    const onEvent = (event: RawEvent) => {
      if (options.by === 'syscall') {
        const nr = event.fields.id as number
        bySyscall.set(nr, (bySyscall.get(nr) ?? 0) + 1)
      } else if (options.by === 'thread') byTask.add(event.pid, threads.nameOf(event.pid))
      else byTask.add(threads.groupOf(event.pid) ?? event.pid, threads.nameOf(event.pid))
    }
    const {pipe, attach} = await startRawEventStream(ctx, 'syscount', [{event: 'raw_syscalls/sys_enter', fields: ['id']}], onEvent, {
      recordTgid: options.by === 'process',
    })
    return {
      attach,
      async collect() {
        await pipe.catchUp()
        const interval = options.by === 'syscall' ? named(bySyscall) : byTask.take()
        bySyscall = new Map()
        threads.forget()
        return countsFrom(options.by, interval, options.top, options.syscalls)
      },
      stop: () => pipe.stop(),
      lost: () => pipe.lost(),
    }
  },
}

/** Counts by syscall number, by name (numbers the table does not name keep theirs). */
function named(byNumber: Map<number, number>): Map<string, number> {
  const byName = new Map<string, number>()
  for (const [nr, count] of byNumber) {
    const name = syscallName(nr)
    byName.set(name, (byName.get(name) ?? 0) + count)
  }
  return byName
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
