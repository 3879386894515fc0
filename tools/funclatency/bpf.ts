import {HistogramReader} from '../../backends/bpf/histogram.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {type TimingMethod, attachTimedFunctions} from '../../backends/bpf/function-timing.js'
import type {Runner} from '../../backends/runner.js'
import {matchedFunctions} from '../../src/tracefs/functions.js'
import {UNIT_NS} from '../../src/plan/options.js'
import type {FunclatencyOptions} from './tool.js'

/**
 * funclatency from BPF: each function's calls timed in its slot as funcprofile's are
 * (bpf/function-timing.h), each duration counted into a log2 histogram labelled by the slot.
 */
function timed(method: TimingMethod): Runner<FunclatencyOptions> {
  return {
    async start({options, probe, files, undo, targetPid, pid, functions: matched}) {
      // Routing passes this candidate over when the pattern matches more functions than SLOTS.
      const functions = matchedFunctions(matched)
      const bpf = await BpfTool.forRun('funclatency', {undo, probe, files, targetPid})
      bpf.setU64('unit_ns', UNIT_NS[options.unit])
      const attach = await attachTimedFunctions(bpf, method, functions, {files, tracefs: probe.tracefs, pid, pattern: options.pattern})
      const histograms = new HistogramReader(bpf, (slot) => functions[slot] ?? `slot ${slot}`)
      return {
        attach,
        async collect() {
          return {kind: 'histograms', unit: options.unit, labelKey: 'function', histograms: histograms.read()}
        },
        lost: async () => bpf.lost(),
      }
    },
  }
}

export const fentry = timed('fentry')
export const kprobe = timed('kprobe')
