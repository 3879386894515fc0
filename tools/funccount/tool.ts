import {BPF_COUNTS, KNOBS, KPROBE_EVENTS, PROGRAM_PER_FUNCTION} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import {patternArg, pidFlag, topFlag} from '../../src/tool-flags.js'

export interface FunccountOptions extends ToolOptions {
  pattern: string
  top: number
}

export const funccount = defineTool({
  name: 'funccount',
  summary: 'kernel function call counts for a wildcard pattern',
  output: 'counts',
  command: {
    summary: 'Count calls of kernel functions matching a wildcard pattern',
    usage: 'funccount PATTERN [FLAGS] [-- COMMAND [ARGS...]]',
    args: {pattern: patternArg},
    flags: {pid: pidFlag, top: topFlag(50)},
  },
  help: {
    measures: `Counts the calls of every kernel function whose name matches a wildcard pattern, and prints the
most called first. Shows which code paths of the kernel a workload drives (which file system, which
TCP functions, how often the page cache misses), without knowing in advance which function matters.`,
    origin: `bcc's funccount(8) and perf-tools' funccount, which counts with the ftrace function profiler.`,
    examples: [
      {description: 'Which VFS functions run, and how often, over 5 seconds:', command: "<%= config.bin %> funccount 'vfs_*' -d 5"},
      {description: 'TCP send-path calls per second:', command: "<%= config.bin %> funccount 'tcp_send*' -i 1"},
      {description: 'Only the calls made for one command (and its children):', command: "<%= config.bin %> funccount 'ext4_*' -- tar xf linux.tar"},
    ],
  },
  options: ({args, flags}): FunccountOptions => ({pattern: args.pattern, pid: flags.pid, top: flags.top}),
  candidates: [
    {
      id: 'bpf-kprobe-multi',
      backend: 'bpf',
      method: 'one BPF kprobe_multi link over every matching function',
      needs: [...BPF_COUNTS, 'bpf-kprobe-multi'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).kprobeMulti,
    },
    {
      id: 'bpf-fentry',
      backend: 'bpf',
      method: 'BPF fentry program per matching function',
      needs: [...BPF_COUNTS, 'btf', 'bpf-fentry'],
      ...KNOBS,
      limits: PROGRAM_PER_FUNCTION,
      runner: async () => (await import('./bpf.js')).fentry,
    },
    {
      id: 'bpf-kprobe',
      backend: 'bpf',
      method: 'BPF kprobe per matching function',
      needs: [...BPF_COUNTS, 'bpf-kprobe'],
      ...KNOBS,
      limits: PROGRAM_PER_FUNCTION,
      runner: async () => (await import('./bpf.js')).kprobe,
    },
    {
      id: 'ftrace-profiler',
      backend: 'ftrace',
      method: 'function profiler hit counts (trace_stat/function*)',
      needs: ['function-tracer', 'function-profiler'],
      runner: async () => (await import('./ftrace.js')).profiler,
    },
    {
      id: 'ftrace-kprobe-profile',
      backend: 'ftrace',
      method: 'kprobe events and their kprobe_profile hit counts',
      needs: ['kprobe-events', 'kprobe-profile'],
      limits: KPROBE_EVENTS,
      runner: async () => (await import('./ftrace.js')).kprobeProfile,
    },
    {
      id: 'ftrace-function-stream',
      backend: 'ftrace',
      method: 'function tracer events from a private instance, counted in diag',
      needs: ['ftrace-instances', 'function-tracer'],
      runner: async () => (await import('./ftrace.js')).functionStream,
    },
  ],
})
