import type {ProfileOptions} from './tool.js'
import {BackendError} from '../../src/errors.js'
import type {Stacks} from '../../src/result/kinds/stacks.js'
import {spawnOwned} from '../../src/system/child.js'
import {type StackTally, stackKey, stacksOf} from '../../src/symbols/stacks.js'
import type {Runner} from '../../backends/runner.js'
import {PerfRecord} from '../../backends/perf/perf-record.js'
import {KERNEL_SPACE, type ScriptSample, parsePerfScript} from '../../backends/perf/perf-script.js'

// The fields folding needs; perf names each frame from the maps it recorded and the files' symbols.
const SCRIPT_FIELDS = 'comm,pid,ip,sym'

/**
 * Adds perf script samples to a tally as profile's BPF backend folds them: the comm (comm-PID),
 * then the user frames and the kernel frames, each outermost first, those not asked for left out;
 * samples of idle CPUs (pid 0) are not counted.
 */
export function foldSamples(samples: ScriptSample[], options: Pick<ProfileOptions, 'stacks' | 'perPid'>, tally: StackTally = new Map()): StackTally {
  for (const sample of samples) {
    if (sample.pid === 0) continue
    const frames = sample.frames.filter((f) => f.address !== 0n)
    const user = options.stacks === 'kernel' ? [] : frames.filter((f) => f.address < KERNEL_SPACE).map((f) => f.symbol)
    const kernel = options.stacks === 'user' ? [] : frames.filter((f) => f.address >= KERNEL_SPACE).map((f) => f.symbol)
    const key = stackKey(options.perPid ? `${sample.comm}-${sample.pid}` : sample.comm, user, kernel)
    tally.set(key, (tally.get(key) ?? 0) + 1)
  }
  return tally
}

async function script(file: string): Promise<ScriptSample[]> {
  const run = await spawnOwned('perf', ['script', '-i', file, '-F', SCRIPT_FIELDS], {stdio: ['ignore', 'pipe', 'pipe'], reject: false, maxBuffer: 1 << 30})
  if (run.exitCode !== 0) throw new BackendError(`perf script -i ${file} failed: ${String(run.stderr).trim().split('\n').slice(-2).join('; ')}`)
  return parsePerfScript(String(run.stdout))
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
        for (const file of await perf.take()) foldSamples(await script(file), options, tally)
        return stacksOf(tally, 'samples')
      },
      stop: () => perf.finish(),
      // perf reports lost samples in its data file (PERF_RECORD_LOST), which perf script leaves out.
      lost: async () => null,
    }
  },
}
