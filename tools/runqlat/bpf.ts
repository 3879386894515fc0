import {UNIT_NS} from '../../src/plan/options.js'
import type {RunqlatOptions} from './tool.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import {preemptMarker} from '../../src/tracefs/preempt-marker.js'
import type {Collector, Runner} from '../../backends/runner.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {HistogramReader} from '../../backends/bpf/histogram.js'

const PROGRAMS = ['sched_wakeup', 'sched_wakeup_new', 'sched_switch']

function histogramCollector(bpf: BpfTool, options: RunqlatOptions, note = ''): Collector {
  const histograms = new HistogramReader(bpf, () => null)
  return {
    attach: bpf.attachments + note,
    async collect() {
      return {kind: 'histograms', unit: options.unit, labelKey: null, histograms: histograms.read()}
    },
    async lost() {
      return bpf.lost()
    },
  }
}

/** runqlat from the classic sched tracepoints, their field offsets read from tracefs: no BTF needed. */
export const tracepoint: Runner<RunqlatOptions> = {
  async start({options, probe, files, undo}) {
    const wakeup = await readEventFormat(files, probe.tracefs!, 'sched/sched_wakeup')
    const wakeupNew = await readEventFormat(files, probe.tracefs!, 'sched/sched_wakeup_new')
    const sched = await readEventFormat(files, probe.tracefs!, 'sched/sched_switch')
    // One offset serves both wakeup events; the program relies on it, so check it.
    const pidOffset = fieldOffset(wakeup, 'pid', [4])
    if (fieldOffset(wakeupNew, 'pid', [4]) !== pidOffset) throw new Error('sched_wakeup and sched_wakeup_new disagree on pid')
    const bpf = BpfTool.open('runqlat', undo, probe)
    bpf.setU32('wakeup_pid_offset', pidOffset)
    bpf.setU32('prev_pid_offset', fieldOffset(sched, 'prev_pid', [4]))
    bpf.setU32('prev_state_offset', fieldOffset(sched, 'prev_state', [8]))
    bpf.setU32('next_pid_offset', fieldOffset(sched, 'next_pid', [4]))
    // Tasks preempted in the kernel carry a marker bit in prev_state, which the format names.
    const marker = preemptMarker(await files.read(`${probe.tracefs!}/events/sched/sched_switch/format`))
    bpf.setU32('preempt_marker', marker ?? 0)
    bpf.setU64('unit_ns', UNIT_NS[options.unit])
    bpf.load(PROGRAMS)
    bpf.attachTracepoint('sched_wakeup', wakeup)
    bpf.attachTracepoint('sched_wakeup_new', wakeupNew)
    bpf.attachTracepoint('sched_switch', sched)
    return histogramCollector(bpf, options, marker ? '' : ' (no preempt marker in the sched_switch format: tasks preempted in the kernel are not counted)')
  },
}

/** runqlat from the BTF-typed sched tracepoints (bpf/runqlat.tp_btf.bpf.c). */
export const tpBtf: Runner<RunqlatOptions> = {
  async start({options, undo, probe}) {
    const bpf = BpfTool.open('runqlat.tp_btf', undo, probe)
    bpf.setU64('unit_ns', UNIT_NS[options.unit])
    bpf.load(PROGRAMS)
    for (const program of PROGRAMS) bpf.attach(program, {kind: 'trace'}, `tp_btf sched:${program}`)
    return histogramCollector(bpf, options)
  },
}
