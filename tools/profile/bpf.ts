import type {ProfileOptions} from './tool.js'
import {onlineCpus} from '../../src/system/cpus.js'
import type {Runner} from '../../backends/runner.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {setStackKnobs, stackCountsCollector} from '../../backends/bpf/stack-counts.js'

// From include/uapi/linux/perf_event.h: the cpu-clock software event, a timer every machine has
// (virtual machines often have no hardware counters).
const PERF_TYPE_SOFTWARE = 1
const PERF_COUNT_SW_CPU_CLOCK = 0

/** profile from a BPF program on a cpu-clock perf event of each online CPU (profile.bpf.c). */
export const perfEvent: Runner<ProfileOptions> = {
  async start(ctx) {
    const {options, files, undo} = ctx
    const bpf = await BpfTool.forRun('profile', ctx)
    setStackKnobs(bpf, options)
    bpf.load(['sample'])
    const cpus = await onlineCpus(files)
    for (const cpu of cpus) {
      const event = {kind: 'perf_event', type: PERF_TYPE_SOFTWARE, config: PERF_COUNT_SW_CPU_CLOCK, cpu, frequency: options.frequency} as const
      bpf.attach('sample', event, `perf event cpu-clock on CPU ${cpu}`)
    }
    const collector = stackCountsCollector(bpf, options, {map: 'samples', unit: 'samples', divisor: 1}, files, undo)
    return {...collector, attach: `perf event cpu-clock at ${options.frequency} Hz on ${cpus.length} CPUs (${cpus.join(',')})`}
  },
}
