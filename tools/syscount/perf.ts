import {BadInputError} from '../../src/errors.js'
import type {SyscountOptions} from './tool.js'
import {countsFrom} from '../../src/result/normalize.js'
import type {Runner} from '../../backends/runner.js'
import {PerfStat} from '../../backends/perf/perf-stat.js'

const PREFIX = 'syscalls:sys_enter_'

/**
 * syscount from one `perf stat -I` on the syscalls:sys_enter_* tracepoints (only those of
 * --syscall when given: each costs the kernel a grace period to close). Intervals are perf's
 * ticks, so an interval boundary may fall up to one tick late; nothing is counted twice or lost.
 */
export const stat: Runner<SyscountOptions> = {
  async start({options, files, probe, undo, targetPid, interval}) {
    if (options.by !== 'syscall') {
      throw new BadInputError(`the perf backend counts by syscall only; use --backend bpf or ftrace for --by ${options.by}`)
    }
    const available = (await files.list(`${probe.tracefs!}/events/syscalls`))
      .filter((name) => name.startsWith('sys_enter_'))
      .map((name) => name.slice('sys_enter_'.length))
    const wanted = options.syscalls ? available.filter((name) => options.syscalls!.has(name)) : available
    if (wanted.length === 0) throw new BadInputError(`no syscalls:sys_enter_ tracepoint for ${[...(options.syscalls ?? [])].join(', ')}`)
    // A tick short enough that a stop or an interval boundary is never more than half a second off.
    const tickMs = Math.round(Math.min(500, Math.max(100, ((interval ?? Infinity) * 1000) / 5)))
    const perf = await PerfStat.start(wanted.map((name) => PREFIX + name), {pid: targetPid}, tickMs, undo)
    return {
      attach: `perf stat -I ${tickMs} -e '${options.syscalls ? wanted.map((n) => PREFIX + n).join(',') : `${PREFIX}*`}' ${targetPid === undefined ? '-a' : `-p ${targetPid}`}`,
      async collect() {
        const bySyscall = [...perf.collect()].map(([event, n]): [string, number] => [event.slice(PREFIX.length), n])
        return countsFrom('syscall', bySyscall, options.top, options.syscalls)
      },
      stop: () => perf.finish(),
      // perf stat counts in the kernel and cannot drop events.
      lost: async () => 0,
    }
  },
}
