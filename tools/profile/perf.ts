import type {ProfileOptions} from './tool.js'
import type {Stacks} from '../../src/result/kinds/stacks.js'
import {type StackTally, stackKey, stacksOf} from '../../src/symbols/stacks.js'
import type {Runner} from '../../backends/runner.js'
import {PerfRecord} from '../../backends/perf/perf-record.js'
import {type ScriptSample, callChainFrames, readSamples} from '../../backends/perf/perf-script.js'

/**
 * Adds perf script samples to a tally as profile's BPF backend folds them: the comm (comm-PID),
 * then the user frames and the kernel frames, each outermost first, those not asked for left out;
 * samples of idle CPUs (pid 0) are not counted.
 */
export function foldSamples(samples: ScriptSample[], options: Pick<ProfileOptions, 'stacks' | 'perPid'>, tally: StackTally = new Map()): StackTally {
  for (const sample of samples) {
    if (sample.pid === 0) continue
    const {user, kernel} = callChainFrames(sample.frames)
    const key = stackKey(options.perPid ? `${sample.comm}-${sample.pid}` : sample.comm, options.stacks === 'kernel' ? [] : user, options.stacks === 'user' ? [] : kernel)
    tally.set(key, (tally.get(key) ?? 0) + 1)
  }
  return tally
}

/** profile from `perf record -g` on the cpu-clock event, a data file per interval read with `perf script`. */
export const record: Runner<ProfileOptions> = {
  async start({options, undo, targetPid}) {
    const events = ['-e', 'cpu-clock', '-F', String(options.frequency), '-g']
    const perf = await PerfRecord.start(events, {pid: targetPid}, undo)
    return {
      attach: `perf record ${events.join(' ')} ${targetPid === undefined ? '-a' : `-p ${targetPid}`}`,
      async collect(): Promise<Stacks> {
        const tally: StackTally = new Map()
        for (const file of await perf.take()) foldSamples(await readSamples(file), options, tally)
        return stacksOf(tally, 'samples')
      },
      stop: () => perf.finish(),
      // perf reports lost samples in its data file (PERF_RECORD_LOST), which perf script leaves out.
      lost: async () => null,
    }
  },
}
