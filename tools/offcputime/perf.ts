import type {OffcputimeOptions} from './tool.js'
import {SwitchPairing, threadsOf} from './pairing.js'
import {BackendError} from '../../src/errors.js'
import type {Stacks} from '../../src/result/kinds/stacks.js'
import {spawnOwned} from '../../src/system/child.js'
import {stacksOf} from '../../src/symbols/stacks.js'
import {readTaskStates, stateFilter} from '../../src/tracefs/task-state.js'
import type {Runner} from '../../backends/runner.js'
import {PerfRecord} from '../../backends/perf/perf-record.js'
import {KERNEL_SPACE, type TraceSample, parsePerfTraceScript} from '../../backends/perf/perf-script.js'

// The fields pairing needs; perf names each frame from the maps it recorded and the files' symbols.
const SCRIPT_FIELDS = 'comm,pid,tid,time,event,trace,ip,sym'

/**
 * perf script samples into the pairing (pairing.ts), in time order as perf script gives them:
 * each switch-out's call chain, user and kernel frames apart, becomes its block's stacks.
 * Frames at address 0 end a user chain walked past its outermost frame: not frames.
 */
export function pairSamples(pairing: SwitchPairing, samples: TraceSample[]): void {
  for (const sample of samples) {
    const block = pairing.event(sample.event, sample.body, sample.time, sample.pid)
    if (!block) continue
    const frames = sample.frames.filter((f) => f.address !== 0n)
    block.kernel = frames.filter((f) => f.address >= KERNEL_SPACE).map((f) => f.symbol)
    block.user = frames.filter((f) => f.address < KERNEL_SPACE).map((f) => f.symbol)
  }
}

async function script(file: string): Promise<TraceSample[]> {
  const args = ['script', '-i', file, '-F', SCRIPT_FIELDS, '--ns']
  const run = await spawnOwned('perf', args, {stdio: ['ignore', 'pipe', 'pipe'], reject: false, maxBuffer: 1 << 30})
  if (run.exitCode !== 0) throw new BackendError(`perf script -i ${file} failed: ${String(run.stderr).trim().split('\n').slice(-2).join('; ')}`)
  return parsePerfTraceScript(String(run.stdout))
}

/**
 * offcputime from `perf record` of sched_switch (with call chains) and sched_wakeup on every CPU,
 * a data file per interval read back with `perf script` and paired in diag as the ftrace stream
 * pairs its events. Every CPU, even for one process: a task's switch back in is an event of the
 * task it replaces, which following the process alone (-p) would never record.
 */
export const record: Runner<OffcputimeOptions> = {
  async start(ctx) {
    const {options, undo, targetPid, probe, files} = ctx
    if (options.states) stateFilter(await readTaskStates(files, probe.tracefs!), options.states)
    const tasks = targetPid === undefined ? undefined : await threadsOf(ctx, targetPid)
    const pairing = new SwitchPairing(options, tasks)
    const events = ['-e', 'sched:sched_switch', '-e', 'sched:sched_wakeup', ...(tasks ? ['-e', 'sched:sched_process_fork'] : []), '-g']
    // A clock that agrees across CPUs (a block often starts on one and ends on another), and
    // buffers for a busy system's switches: a switch in or wakeup perf drops loses its block.
    const perf = await PerfRecord.start([...events, '-k', 'mono', '-m', '4M'], {}, undo)
    return {
      attach: `perf record ${events.join(' ')} -a, paired in diag${tasks ? ` for pid ${targetPid} and its children` : ''}`,
      async collect(): Promise<Stacks> {
        for (const file of await perf.take()) pairSamples(pairing, await script(file))
        return stacksOf(pairing.take(), 'usecs')
      },
      stop: () => perf.finish(),
      // Blocks whose end was not recorded; perf's own losses (PERF_RECORD_LOST) perf script leaves out.
      lost: async () => pairing.dropped,
    }
  },
}
