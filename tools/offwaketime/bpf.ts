import type {OffwaketimeOptions} from './tool.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import type {Runner} from '../../backends/runner.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {setBlockedKnobs, stackCountsCollector} from '../../backends/bpf/stack-counts.js'

// Nanoseconds blocked by the blocked task's and its waker's stacks (offwaketime.h), as microseconds.
const BLOCKED = {map: 'blocked', unit: 'usecs', divisor: 1000, withWaker: true}
const PROGRAMS = ['sched_switch', 'sched_waking']

/** offwaketime from the classic sched_switch and sched_waking, the pids at their offsets from tracefs: no BTF needed. */
export const tracepoint: Runner<OffwaketimeOptions> = {
  async start(ctx) {
    const {options, probe, files, undo} = ctx
    const sched = await readEventFormat(files, probe.tracefs!, 'sched/sched_switch')
    const waking = await readEventFormat(files, probe.tracefs!, 'sched/sched_waking')
    const bpf = await BpfTool.forRun('offwaketime', ctx)
    setBlockedKnobs(bpf, options)
    bpf.setU32('next_pid_offset', fieldOffset(sched, 'next_pid', [4]))
    bpf.setU32('woken_pid_offset', fieldOffset(waking, 'pid', [4]))
    bpf.load(PROGRAMS)
    bpf.attachTracepoint('sched_switch', sched)
    bpf.attachTracepoint('sched_waking', waking)
    return stackCountsCollector(bpf, options, BLOCKED, files, undo)
  },
}

/** offwaketime from the BTF-typed sched_switch and sched_waking (offwaketime.tp_btf.bpf.c). */
export const tpBtf: Runner<OffwaketimeOptions> = {
  async start(ctx) {
    const {options, files, undo} = ctx
    const bpf = await BpfTool.forRun('offwaketime.tp_btf', ctx)
    setBlockedKnobs(bpf, options)
    bpf.load(PROGRAMS)
    bpf.attach('sched_switch', {kind: 'trace'}, 'tp_btf sched:sched_switch')
    bpf.attach('sched_waking', {kind: 'trace'}, 'tp_btf sched:sched_waking')
    return stackCountsCollector(bpf, options, BLOCKED, files, undo)
  },
}
