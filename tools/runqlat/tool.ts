import {BPF_COUNTS, KNOBS, TP_BTF} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import type {TimeUnit} from '../../src/result/model.js'
import {histogramUnit, unitFlag} from '../../src/tool-flags.js'

export interface RunqlatOptions extends ToolOptions {
  unit: Extract<TimeUnit, 'usecs' | 'msecs'>
}

export const runqlat = defineTool({
  name: 'runqlat',
  summary: 'run queue (scheduler) latency histogram',
  output: 'histograms',
  command: {
    summary: 'Run queue (scheduler) latency as a log2 histogram',
    usage: 'runqlat [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {unit: unitFlag},
  },
  help: {
    measures: `Times how long runnable tasks wait on a CPU's run queue before they run (from wakeup, or from
being preempted, until switched in), as a log2 histogram. Long waits mean CPU saturation: more
runnable threads than CPUs, or a CPU hogged by something else, even when average load looks fine.`,
    origin: `bcc's runqlat(8) and bpftrace's runqlat.bt, on the scheduler tracepoints.`,
    examples: [
      {description: 'Run queue latency over 10 seconds, in microseconds:', command: '<%= config.bin %> runqlat -d 10'},
      {description: 'In milliseconds, a histogram every 5 seconds until Ctrl-C:', command: '<%= config.bin %> runqlat --unit ms -i 5'},
      {description: 'While a parallel build saturates the CPUs, as JSON:', command: '<%= config.bin %> runqlat --json -- make -j8'},
    ],
  },
  options: ({flags}): RunqlatOptions => ({unit: histogramUnit(flags.unit)}),
  candidates: [
    {
      id: 'bpf-tp-btf',
      backend: 'bpf',
      method: 'BPF programs on BTF-typed sched_wakeup/sched_switch (tp_btf), reading task state directly',
      needs: [...BPF_COUNTS, 'bpf-helper-ktime-get-ns', ...TP_BTF],
      runner: async () => (await import('./bpf.js')).tpBtf,
    },
    {
      id: 'bpf-tracepoint',
      backend: 'bpf',
      method: 'BPF programs on sched_wakeup/sched_switch, log2 histogram in a map',
      needs: [...BPF_COUNTS, 'bpf-map-array', 'bpf-helper-ktime-get-ns', 'bpf-tracepoint', 'tracepoints'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).tracepoint,
    },
    {
      id: 'ftrace-hist',
      backend: 'ftrace',
      method: 'synthetic event joining sched_wakeup to sched_switch, hist trigger on it',
      needs: ['ftrace-instances', 'hist-triggers', 'synthetic-events'],
      runner: async () => (await import('./ftrace.js')).hist,
    },
    {
      id: 'ftrace-stream',
      backend: 'ftrace',
      method: 'sched_wakeup/sched_switch events from a private instance, paired in diag',
      needs: ['ftrace-instances', 'tracepoints'],
      runner: async () => (await import('./ftrace.js')).stream,
    },
  ],
})
