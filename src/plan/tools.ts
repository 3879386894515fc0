/**
 * Every tool diag knows and, for each, the ways to answer it in order of preference. This table
 * is the one place that says which capabilities a method needs: the routing report and the tool
 * commands both read it.
 */
export type BackendName = 'bpf' | 'ftrace' | 'perf'

export interface Candidate {
  /** Unique within its tool; `--backend` accepts it as well as the backend's name. */
  id: string
  backend: BackendName
  /** What the method does, for people. */
  method: string
  /** Capabilities that must all be available. */
  needs: string[]
  /** What it can count by (syscount's --by), when not everything: the kernel keys hist by thread only. */
  countsBy?: readonly string[]
}

export interface ToolSpec {
  name: string
  summary: string
  candidates: Candidate[]
}

const BPF_COUNTS = ['bpf-syscall', 'bpf-map-hash']

export const TOOLS: ToolSpec[] = [
  {
    name: 'syscount',
    summary: 'system call counts, by syscall or by process',
    candidates: [
      {
        id: 'bpf-tp-btf',
        backend: 'bpf',
        method: 'BPF program on the BTF-typed raw_syscalls:sys_enter (tp_btf), counts in a per-CPU hash map',
        needs: ['bpf-syscall', 'bpf-map-percpu-hash', 'btf', 'bpf-tp-btf', 'syscall-tracepoints'],
      },
      {
        id: 'bpf-tracepoint',
        backend: 'bpf',
        method: 'BPF program on raw_syscalls:sys_enter, counts in a per-CPU hash map',
        needs: ['bpf-syscall', 'bpf-map-percpu-hash', 'bpf-tracepoint', 'syscall-tracepoints'],
      },
      {
        id: 'ftrace-hist',
        backend: 'ftrace',
        method: 'hist trigger keyed by id.syscall on raw_syscalls:sys_enter',
        needs: ['ftrace-instances', 'syscall-tracepoints', 'hist-triggers'],
        // A hist key has the thread (common_pid) but no thread group: threads gone before a read
        // could not be added into their process.
        countsBy: ['syscall', 'thread'],
      },
      {
        id: 'perf-stat',
        backend: 'perf',
        method: 'perf stat counting the syscalls:sys_enter_* tracepoints',
        needs: ['perf-tool', 'perf-event-tracepoint', 'syscall-tracepoints'],
        countsBy: ['syscall'],
      },
      {
        id: 'ftrace-stream',
        backend: 'ftrace',
        method: 'raw_syscalls:sys_enter events from a private instance, counted in diag',
        needs: ['ftrace-instances', 'tracepoints', 'syscall-tracepoints'],
      },
    ],
  },
  {
    name: 'funccount',
    summary: 'kernel function call counts for a wildcard pattern',
    candidates: [
      {
        id: 'bpf-kprobe-multi',
        backend: 'bpf',
        method: 'one BPF kprobe_multi link over every matching function',
        needs: [...BPF_COUNTS, 'bpf-kprobe-multi'],
      },
      {
        id: 'bpf-fentry',
        backend: 'bpf',
        method: 'BPF fentry program per matching function',
        needs: [...BPF_COUNTS, 'btf', 'bpf-fentry'],
      },
      {
        id: 'bpf-kprobe',
        backend: 'bpf',
        method: 'BPF kprobe per matching function',
        needs: [...BPF_COUNTS, 'bpf-kprobe'],
      },
      {
        id: 'ftrace-profiler',
        backend: 'ftrace',
        method: 'function profiler hit counts (trace_stat/function*)',
        needs: ['function-tracer', 'function-profiler'],
      },
      {
        id: 'ftrace-kprobe-profile',
        backend: 'ftrace',
        method: 'kprobe events and their kprobe_profile hit counts',
        needs: ['kprobe-events', 'kprobe-profile'],
      },
      {
        id: 'ftrace-function-stream',
        backend: 'ftrace',
        method: 'function tracer events from a private instance, counted in diag',
        needs: ['ftrace-instances', 'function-tracer'],
      },
    ],
  },
  {
    name: 'biolatency',
    summary: 'block I/O latency histogram',
    candidates: [
      {
        id: 'bpf-tracepoint',
        backend: 'bpf',
        method: 'BPF programs on block_rq_issue/complete, log2 histogram in a map',
        needs: [...BPF_COUNTS, 'bpf-map-array', 'bpf-tracepoint', 'tracepoints'],
      },
      {
        id: 'ftrace-hist',
        backend: 'ftrace',
        method: 'synthetic event joining block_rq_issue to block_rq_complete, hist trigger on it',
        needs: ['ftrace-instances', 'hist-triggers', 'synthetic-events'],
      },
      {
        id: 'ftrace-stream',
        backend: 'ftrace',
        method: 'block_rq_issue/complete events from a private instance, paired in diag',
        needs: ['ftrace-instances', 'tracepoints'],
      },
    ],
  },
  {
    name: 'runqlat',
    summary: 'run queue (scheduler) latency histogram',
    candidates: [
      {
        id: 'bpf-tp-btf',
        backend: 'bpf',
        method: 'BPF programs on BTF-typed sched_wakeup/sched_switch (tp_btf), reading task state directly',
        needs: [...BPF_COUNTS, 'btf', 'bpf-tp-btf'],
      },
      {
        id: 'bpf-tracepoint',
        backend: 'bpf',
        method: 'BPF programs on sched_wakeup/sched_switch, log2 histogram in a map',
        needs: [...BPF_COUNTS, 'bpf-map-array', 'bpf-tracepoint', 'tracepoints'],
      },
      {
        id: 'ftrace-hist',
        backend: 'ftrace',
        method: 'synthetic event joining sched_wakeup to sched_switch, hist trigger on it',
        needs: ['ftrace-instances', 'hist-triggers', 'synthetic-events'],
      },
      {
        id: 'ftrace-stream',
        backend: 'ftrace',
        method: 'sched_wakeup/sched_switch events from a private instance, paired in diag',
        needs: ['ftrace-instances', 'tracepoints'],
      },
    ],
  },
  {
    name: 'funcprofile',
    summary: 'per-function hits and time (the ftrace function profiler table)',
    candidates: [
      {
        id: 'ftrace-profiler',
        backend: 'ftrace',
        method: 'function profiler (function_profile_enabled, trace_stat/function*)',
        needs: ['function-tracer', 'function-profiler'],
      },
      {
        id: 'bpf-fentry',
        backend: 'bpf',
        method: 'BPF fentry/fexit pairs timing each matching function',
        needs: [...BPF_COUNTS, 'btf', 'bpf-fentry'],
      },
      {
        id: 'bpf-kprobe',
        backend: 'bpf',
        method: 'BPF kprobe/kretprobe pairs timing each matching function',
        needs: [...BPF_COUNTS, 'bpf-kprobe'],
      },
    ],
  },
]

export function findTool(name: string): ToolSpec | undefined {
  return TOOLS.find((tool) => tool.name === name)
}
