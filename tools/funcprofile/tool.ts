import {KNOBS, PROGRAM_PER_FUNCTION, TIMED_FENTRY, TIMED_KPROBE} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import {patternArg, topFlag} from '../../src/tool-flags.js'

export interface FuncprofileOptions extends ToolOptions {
  pattern: string
  top: number
}

export const funcprofile = defineTool({
  name: 'funcprofile',
  summary: 'per-function hits and time (the ftrace function profiler table)',
  output: 'profile',
  command: {
    summary: 'Hits and time per kernel function (the ftrace function profiler table)',
    usage: 'funcprofile PATTERN [FLAGS] [-- COMMAND [ARGS...]]',
    args: {pattern: patternArg},
    flags: {top: topFlag(30)},
  },
  help: {
    measures: `Times every kernel function matching a wildcard pattern: for each, the calls, the total time,
the average and the variance, the busiest first. Finds which kernel functions a workload spends its
time in, and which of them are slow per call rather than called often.`,
    origin: `the ftrace function profiler (function_profile_enabled, trace_stat/function*), which perf-tools'
funccount reads; bcc's funclatency(8) times functions too, as a histogram.`,
    examples: [
      {description: 'Time spent in TCP functions over 10 seconds:', command: "<%= config.bin %> funcprofile 'tcp_*' -d 10"},
      {description: 'The 10 most expensive VFS functions of one command:', command: "<%= config.bin %> funcprofile 'vfs_*' -T 10 -- find /usr -name '*.so'"},
      {description: 'Page-cache functions as JSON, for a script to compare runs:', command: "<%= config.bin %> funcprofile 'filemap_*' -d 5 --json"},
    ],
  },
  options: ({args, flags}): FuncprofileOptions => ({pattern: args.pattern, top: flags.top}),
  candidates: [
    {
      id: 'ftrace-profiler',
      backend: 'ftrace',
      method: 'function profiler (function_profile_enabled, trace_stat/function*)',
      needs: ['function-tracer', 'function-profiler'],
      runner: async () => (await import('./ftrace.js')).profiler,
    },
    {
      id: 'bpf-fentry',
      backend: 'bpf',
      method: 'BPF fentry/fexit pairs timing each matching function',
      needs: TIMED_FENTRY,
      ...KNOBS,
      limits: PROGRAM_PER_FUNCTION,
      runner: async () => (await import('./bpf.js')).fentry,
    },
    {
      id: 'bpf-kprobe',
      backend: 'bpf',
      method: 'BPF kprobe/kretprobe pairs timing each matching function',
      needs: TIMED_KPROBE,
      ...KNOBS,
      limits: PROGRAM_PER_FUNCTION,
      runner: async () => (await import('./bpf.js')).kprobe,
    },
  ],
})
