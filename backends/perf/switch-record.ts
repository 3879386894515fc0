import type {Stacks} from '../../src/result/kinds/stacks.js'
import {type PairingMode, type PairingOptions, SwitchPairing, threadsOf} from '../../src/sched/switch-pairing.js'
import {stacksOf} from '../../src/symbols/stacks.js'
import {readTaskStates, stateFilter} from '../../src/tracefs/task-state.js'
import type {Runner} from '../runner.js'
import {PerfRecord} from './perf-record.js'
import {type TraceSample, callChainFrames, readTraceSamples} from './perf-script.js'

/**
 * perf script samples into the pairing (src/sched/switch-pairing.ts), in time order as perf
 * script gives them: the call chain of each switch-out that starts a block (and, with wakers, of
 * each block's first sched_waking, recorded in the waker) becomes its stacks, user and kernel
 * frames apart.
 */
export function pairSamples(pairing: SwitchPairing, samples: TraceSample[]): void {
  for (const sample of samples) {
    const stacks = pairing.event(sample.event, sample.body, sample.time, {comm: sample.comm, pid: sample.tid, tgid: sample.pid, cpu: sample.cpu})
    if (!stacks) continue
    const {kernel, user} = callChainFrames(sample.frames)
    stacks.kernel = kernel
    stacks.user = user
  }
}

/**
 * A blocked-time tool (offcputime; offwaketime with wakers) from `perf record` of sched_switch
 * (with call chains) and the wakeups on every CPU, a data file per interval read back with `perf
 * script` and paired in diag as the ftrace stream pairs its events. Every CPU, even for one
 * process: a task's switch back in is an event of the task it replaces, and its wakeup one of its
 * waker, which following the process alone (-p) would never record. With wakers, the wakeups are
 * sched_waking, recorded in the waker, so that their call chains are the waker's.
 */
export function switchRecord<Options extends PairingOptions>(mode: PairingMode = {}): Runner<Options> {
  return {
    async start(ctx) {
      const {options, undo, targetPid, probe, files} = ctx
      if (options.states) stateFilter(await readTaskStates(files, probe.tracefs!), options.states)
      const tasks = targetPid === undefined ? undefined : await threadsOf(ctx, targetPid)
      const pairing = new SwitchPairing(options, tasks, mode)
      const wakeup = mode.wakers ? 'sched:sched_waking' : 'sched:sched_wakeup'
      const events = ['-e', 'sched:sched_switch', '-e', wakeup, ...(tasks ? ['-e', 'sched:sched_process_fork'] : []), '-g']
      // A clock that agrees across CPUs (a block often starts on one and ends on another), and
      // buffers for a busy system's switches: a switch in or wakeup perf drops loses its block.
      const perf = await PerfRecord.start([...events, '-k', 'mono', '-m', '4M'], {}, undo)
      return {
        attach: `perf record ${events.join(' ')} -a, paired in diag${tasks ? ` for pid ${targetPid} and its children` : ''}`,
        async collect(): Promise<Stacks> {
          for (const file of await perf.take()) pairSamples(pairing, await readTraceSamples(file))
          return stacksOf(pairing.take(), 'usecs')
        },
        stop: () => perf.finish(),
        // Blocks whose end was not recorded; perf's own losses (PERF_RECORD_LOST) perf script leaves out.
        lost: async () => pairing.dropped,
      }
    },
  }
}
