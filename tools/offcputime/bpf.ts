import type {OffcputimeOptions} from './tool.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import type {Runner} from '../../backends/runner.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {setBlockedKnobs, stackCountsCollector} from '../../backends/bpf/stack-counts.js'
import {readTaskStates, stateFilter} from '../../src/tracefs/task-state.js'

// Nanoseconds blocked by stack key (offcputime.h), as microseconds.
const BLOCKED = {map: 'blocked', unit: 'usecs', divisor: 1000}

/** offcputime from the classic sched_switch, the switched-in pid at its offset from tracefs: no BTF needed. */
export const tracepoint: Runner<OffcputimeOptions> = {
  async start(ctx) {
    const {options, probe, files, undo} = ctx
    const sched = await readEventFormat(files, probe.tracefs!, 'sched/sched_switch')
    // Bad letters are refused before the program is loaded.
    const states = options.states && stateFilter(await readTaskStates(files, probe.tracefs!), options.states)
    const bpf = await BpfTool.forRun('offcputime', ctx)
    setBlockedKnobs(bpf, options)
    bpf.setU32('next_pid_offset', fieldOffset(sched, 'next_pid', [4]))
    if (states) {
      bpf.setU8('filter_state', 1)
      bpf.setU32('prev_state_offset', fieldOffset(sched, 'prev_state', [8]))
      bpf.setU32('preempt_marker', states.marker ?? 0)
      bpf.setU64('state_mask', states.mask)
      bpf.setU8('state_running', states.running ? 1 : 0)
    }
    bpf.load(['sched_switch'])
    bpf.attachTracepoint('sched_switch', sched)
    return stackCountsCollector(bpf, options, BLOCKED, files, undo)
  },
}

/** offcputime from the BTF-typed sched_switch (offcputime.tp_btf.bpf.c). */
export const tpBtf: Runner<OffcputimeOptions> = {
  async start(ctx) {
    const {options, files, undo} = ctx
    const bpf = await BpfTool.forRun('offcputime.tp_btf', ctx)
    setBlockedKnobs(bpf, options)
    bpf.load(['sched_switch'])
    bpf.attach('sched_switch', {kind: 'trace'}, 'tp_btf sched:sched_switch')
    return stackCountsCollector(bpf, options, BLOCKED, files, undo)
  },
}
