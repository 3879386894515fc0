import {UNIT_NS} from '../../src/plan/options.js'
import type {BiolatencyOptions} from './tool.js'
import {diskLabel, diskNames} from '../../src/system/disks.js'
import {requestStartEvent} from '../../src/tracefs/block-events.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import type {Runner} from '../../backends/runner.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {HistogramReader} from '../../backends/bpf/histogram.js'

export const tracepoint: Runner<BiolatencyOptions> = {
  async start({options, probe, files, undo}) {
    const begin = await readEventFormat(files, probe.tracefs!, await requestStartEvent(files, probe.tracefs!, options.queued))
    const done = await readEventFormat(files, probe.tracefs!, 'block/block_rq_complete')
    const bpf = BpfTool.open('biolatency', undo, probe)
    bpf.setU32('start_dev_offset', fieldOffset(begin, 'dev', [4]))
    bpf.setU32('start_sector_offset', fieldOffset(begin, 'sector', [8]))
    bpf.setU32('done_dev_offset', fieldOffset(done, 'dev', [4]))
    bpf.setU32('done_sector_offset', fieldOffset(done, 'sector', [8]))
    bpf.setU8('per_disk', options.disks ? 1 : 0)
    bpf.setU64('unit_ns', UNIT_NS[options.unit])
    bpf.load(['rq_start', 'rq_complete'])
    bpf.attachTracepoint('rq_start', begin)
    bpf.attachTracepoint('rq_complete', done)
    const names = options.disks ? await diskNames(files) : new Map<number, string>()
    const histograms = new HistogramReader(bpf, (dev) => (options.disks ? diskLabel(names, dev) : null))
    return {
      attach: bpf.attachments,
      async collect() {
        return {kind: 'histograms', unit: options.unit, labelKey: options.disks ? 'disk' : null, histograms: histograms.read()}
      },
      async lost() {
        return bpf.lost()
      },
    }
  },
}

