import type {SyscountOptions} from '../../src/plan/options.js'
import {countsFrom} from '../../src/result/normalize.js'
import {isRunning} from '../../src/tracefs/names.js'
import type {Runner} from '../runner.js'
import {PerfStat} from './perf-stat.js'

const EVENTS = 'syscalls:sys_enter_*'

/**
 * syscount from `perf stat` on every syscalls:sys_enter_* tracepoint. Each interval is its own
 * perf window: collect() ends one and starts the next (events in the gap between are not seen).
 * It counts by syscall only; routing never chooses it for --by process (tools.ts limits).
 */
export const stat: Runner<SyscountOptions> = {
  async start({options, undo, targetPid}) {
    const open = () => PerfStat.start([EVENTS], {pid: targetPid}, undo)
    let window: PerfStat | undefined = await open()
    return {
      attach: `perf stat -e '${EVENTS}' ${targetPid === undefined ? '-a' : `-p ${targetPid}`}`,
      async collect() {
        const counts = (await window?.stop()) ?? new Map()
        // The next interval's window, unless the traced process is gone: then there is nothing to count.
        window = targetPid === undefined || isRunning(targetPid) ? await open().catch(() => undefined) : undefined
        const bySyscall = [...counts].map(([event, n]): [string, number] => [event.replace(/^syscalls:sys_enter_/, ''), n])
        return countsFrom('syscall', bySyscall, options.top, options.syscalls)
      },
      // perf stat counts in the kernel and cannot drop events.
      lost: async () => 0,
    }
  },
}
