import {Flags} from '@oclif/core'

import {KNOBS, PROGRAM_PER_FUNCTION, TIMED_FENTRY, TIMED_KPROBE} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import type {TimeUnit} from '../../src/result/model.js'
import {patternArg, pidFlag} from '../../src/tool-flags.js'

export interface FunclatencyOptions extends ToolOptions {
  pattern: string
  unit: TimeUnit
}

const UNITS = {ns: 'nsecs', us: 'usecs', ms: 'msecs'} as const

export const funclatency = defineTool({
  name: 'funclatency',
  summary: 'kernel function latency, a log2 histogram per function',
  output: 'histograms',
  command: {
    summary: 'Latency of kernel functions, a log2 histogram per function',
    usage: 'funclatency PATTERN [FLAGS] [-- COMMAND [ARGS...]]',
    args: {pattern: patternArg},
    flags: {
      pid: pidFlag,
      // Most kernel functions take under a microsecond: nanoseconds by default, as bcc's funclatency.
      unit: Flags.option({options: ['ns', 'us', 'ms'] as const, default: 'ns', summary: 'Histogram unit'})(),
    },
  },
  help: {
    measures: `Times every call of each kernel function matching a wildcard pattern, from entry to return, and
prints the times as a log2 histogram per function, with percentiles. Shows whether a function is
slow always or only sometimes (a second mode, a long tail), which an average cannot.`,
    origin: `bcc's funclatency(8), perf-tools' funcslower (the function_graph tracer's durations), and the
ply/bpftrace one-liner quantize(nsecs - @start[tid]).`,
    examples: [
      {description: 'How long each vfs_read takes, in nanoseconds, over 10 seconds:', command: '<%= config.bin %> funclatency vfs_read -d 10'},
      {description: 'The ext4 write path in microseconds, a histogram per function every 5 seconds:', command: "<%= config.bin %> funclatency 'ext4_file_write*' --unit us -i 5"},
      {description: 'Only the calls one command makes, as JSON:', command: "<%= config.bin %> funclatency 'do_sys_open*' --json -- ls -R /usr"},
    ],
  },
  options: ({args, flags}): FunclatencyOptions => ({pattern: args.pattern, pid: flags.pid, unit: UNITS[flags.unit]}),
  candidates: [
    {
      id: 'bpf-fentry',
      backend: 'bpf',
      method: "BPF fentry/fexit pairs timing each matching function (funcprofile's programs), log2 histograms in a map",
      needs: TIMED_FENTRY,
      ...KNOBS,
      limits: PROGRAM_PER_FUNCTION,
      runner: async () => (await import('./bpf.js')).fentry,
    },
    {
      id: 'bpf-kprobe',
      backend: 'bpf',
      method: "BPF kprobe/kretprobe pairs timing each matching function (funcprofile's programs), log2 histograms in a map",
      needs: TIMED_KPROBE,
      ...KNOBS,
      limits: PROGRAM_PER_FUNCTION,
      runner: async () => (await import('./bpf.js')).kprobe,
    },
    {
      id: 'ftrace-kprobe-hist',
      backend: 'ftrace',
      method: 'kprobe and kretprobe events per function joined by a synthetic event, hist trigger on it',
      needs: ['ftrace-instances', 'kprobe-events', 'hist-triggers', 'synthetic-events'],
      limits: {maxFunctions: {count: 16, why: 'two kprobe events, a synthetic event and three hist tables per function, and diag makes up to 16'}},
      runner: async () => (await import('./ftrace.js')).kprobeHist,
    },
    {
      id: 'ftrace-function-graph',
      backend: 'ftrace',
      method: "function_graph tracer's durations, read from trace_pipe",
      needs: ['ftrace-instances', 'function-tracer', 'function-graph-tracer'],
      runner: async () => (await import('./ftrace.js')).graph,
    },
  ],
})
