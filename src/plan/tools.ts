/**
 * Every tool diag knows and, for each, the ways to answer it in order of preference. This table
 * is the one place that says which capabilities a method needs: the routing report and the tool
 * commands both read it.
 */
import type {ResultData, RowColumn} from '../result/model.js'
import {SLOTS} from '../../backends/bpf/slots.js'
import * as gethostlatency from '../../tools/gethostlatency/tool.js'

export type BackendName = 'bpf' | 'ftrace' | 'perf'

/** What a candidate can serve, where that depends on the options: checked while routing. */
export interface Limits {
  /** The `--by` groupings it counts by; any when absent. */
  by?: string[]
  /** The most functions one run attaches to, and why that many. */
  maxFunctions?: {count: number; why: string}
}

export interface Candidate {
  /** Unique within its tool; `--backend` accepts it as well as the backend's name. */
  id: string
  backend: BackendName
  /** What the method does, for people. */
  method: string
  /** Capabilities that must all be available. */
  needs: string[]
  /**
   * Capabilities the runner adapts to without needing them, probed with the needs: a BPF runner
   * loads its object's build with knobs in maps where bpf-global-data is unavailable.
   */
  uses?: string[]
  /** What these options must stay within for this candidate to serve them (checked while routing). */
  limits?: Limits
}

export interface ToolSpec {
  name: string
  summary: string
  /** The kind of result data it gives (src/result/model.ts), whatever the backend. */
  output: ResultData['kind']
  /** A rows tool's columns, in print order (the text header is printed before the first row). */
  columns?: RowColumn[]
  candidates: Candidate[]
}

// Every classic BPF object reads tracepoint fields, the forked child's pid at least, with
// bpf_probe_read; its knobs are globals where the kernel has global data, else in maps.
const BPF = ['bpf-syscall', 'bpf-helper-probe-read']
const BPF_COUNTS = [...BPF, 'bpf-map-hash']
const KNOBS = {uses: ['bpf-global-data']}
// The tp_btf objects are built only with globals: a kernel with tp_btf (5.5) has global data (5.2).
const TP_BTF = ['btf', 'bpf-tp-btf', 'bpf-global-data']

// syscount counts by syscall number in a per-CPU array, by process in a per-CPU hash.
const SYSCOUNT_MAPS = ['bpf-map-percpu-array', 'bpf-map-percpu-hash']

const PROGRAM_PER_FUNCTION: Limits = {
  maxFunctions: {count: SLOTS, why: `one program per function, and the object has ${SLOTS} (narrow the pattern, or use a kernel with kprobe_multi, 5.18+)`},
}
// kprobe events cost a definition each; more than this is a job for the profiler or BPF.
const KPROBE_EVENTS: Limits = {maxFunctions: {count: 256, why: 'one kprobe event per function, and diag defines up to 256'}}

export const TOOLS: ToolSpec[] = [
  {
    name: 'syscount',
    summary: 'system call counts, by syscall or by process',
    output: 'counts',
    candidates: [
      {
        id: 'bpf-tp-btf',
        backend: 'bpf',
        method: 'BPF program on the BTF-typed raw_syscalls:sys_enter (tp_btf), counts in a per-CPU array by syscall number',
        needs: [...BPF, ...SYSCOUNT_MAPS, 'bpf-helper-get-current-comm', ...TP_BTF, 'syscall-tracepoints'],
      },
      {
        id: 'bpf-raw-tracepoint',
        backend: 'bpf',
        method: 'BPF program on the raw sys_enter tracepoint, counts in a per-CPU array by syscall number',
        // bpf-tracepoint: the fork follower of the process filter is a classic tracepoint program.
        needs: [...BPF, ...SYSCOUNT_MAPS, 'bpf-helper-get-current-comm', 'bpf-raw-tracepoint', 'bpf-tracepoint', 'syscall-tracepoints'],
        ...KNOBS,
      },
      {
        id: 'bpf-tracepoint',
        backend: 'bpf',
        method: 'BPF program on raw_syscalls:sys_enter, counts in a per-CPU array by syscall number',
        needs: [...BPF, ...SYSCOUNT_MAPS, 'bpf-helper-get-current-comm', 'bpf-tracepoint', 'syscall-tracepoints'],
        ...KNOBS,
      },
      {
        id: 'ftrace-hist',
        backend: 'ftrace',
        method: 'hist trigger keyed by id.syscall on raw_syscalls:sys_enter',
        needs: ['ftrace-instances', 'syscall-tracepoints', 'hist-triggers'],
        // A hist key has the thread (common_pid) but no thread group: threads gone before a read
        // could not be added into their process.
        limits: {by: ['syscall', 'thread']},
      },
      {
        id: 'perf-stat',
        backend: 'perf',
        method: 'perf stat counting the syscalls:sys_enter_* tracepoints',
        needs: ['perf-tool', 'perf-event-tracepoint', 'syscall-tracepoints'],
        // perf stat counts per event, and the events are the syscalls.
        limits: {by: ['syscall']},
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
    output: 'counts',
    candidates: [
      {
        id: 'bpf-kprobe-multi',
        backend: 'bpf',
        method: 'one BPF kprobe_multi link over every matching function',
        needs: [...BPF_COUNTS, 'bpf-kprobe-multi'],
        ...KNOBS,
      },
      {
        id: 'bpf-fentry',
        backend: 'bpf',
        method: 'BPF fentry program per matching function',
        needs: [...BPF_COUNTS, 'btf', 'bpf-fentry'],
        ...KNOBS,
        limits: PROGRAM_PER_FUNCTION,
      },
      {
        id: 'bpf-kprobe',
        backend: 'bpf',
        method: 'BPF kprobe per matching function',
        needs: [...BPF_COUNTS, 'bpf-kprobe'],
        ...KNOBS,
        limits: PROGRAM_PER_FUNCTION,
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
        limits: KPROBE_EVENTS,
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
    output: 'histograms',
    candidates: [
      {
        id: 'bpf-tracepoint',
        backend: 'bpf',
        method: 'BPF programs on block_rq_issue/complete, log2 histogram in a map',
        needs: [...BPF_COUNTS, 'bpf-map-array', 'bpf-helper-ktime-get-ns', 'bpf-tracepoint', 'tracepoints'],
        ...KNOBS,
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
    output: 'histograms',
    candidates: [
      {
        id: 'bpf-tp-btf',
        backend: 'bpf',
        method: 'BPF programs on BTF-typed sched_wakeup/sched_switch (tp_btf), reading task state directly',
        needs: [...BPF_COUNTS, 'bpf-helper-ktime-get-ns', ...TP_BTF],
      },
      {
        id: 'bpf-tracepoint',
        backend: 'bpf',
        method: 'BPF programs on sched_wakeup/sched_switch, log2 histogram in a map',
        needs: [...BPF_COUNTS, 'bpf-map-array', 'bpf-helper-ktime-get-ns', 'bpf-tracepoint', 'tracepoints'],
        ...KNOBS,
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
    output: 'profile',
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
        needs: [...BPF_COUNTS, 'bpf-helper-ktime-get-ns', 'btf', 'bpf-fentry'],
        ...KNOBS,
        limits: PROGRAM_PER_FUNCTION,
      },
      {
        id: 'bpf-kprobe',
        backend: 'bpf',
        method: 'BPF kprobe/kretprobe pairs timing each matching function',
        needs: [...BPF_COUNTS, 'bpf-helper-ktime-get-ns', 'bpf-kprobe'],
        ...KNOBS,
        limits: PROGRAM_PER_FUNCTION,
      },
    ],
  },
  // The first tool in its own folder (tools/gethostlatency/), listed here until the engine reads tools/.
  {name: gethostlatency.NAME, summary: gethostlatency.SUMMARY, output: 'rows', columns: gethostlatency.COLUMNS, candidates: gethostlatency.CANDIDATES},
]

/** What `--backend` accepts for a tool: each backend name and each candidate id. */
export function backendChoices(tool: ToolSpec): string[] {
  return [...new Set(tool.candidates.flatMap((c) => [c.backend, c.id]))]
}

export function findTool(name: string): ToolSpec | undefined {
  return TOOLS.find((tool) => tool.name === name)
}

/** What routing learns from the kernel for the options, once, before choosing. */
export interface OptionFacts {
  /** How many functions the pattern matches (funccount, funcprofile). */
  functions?: number
}

/**
 * Why `candidate` cannot serve these options; empty when it can. Without facts (before probing)
 * only what the options settle alone is checked.
 */
export function optionRefusals(candidate: Candidate, toolOptions: object, facts: OptionFacts = {}): string[] {
  const options = toolOptions as {by?: string; pattern?: string}
  const limits = candidate.limits ?? {}
  const reasons: string[] = []
  if (limits.by && options.by !== undefined && !limits.by.includes(options.by))
    reasons.push(`counts by ${limits.by.join(' or ')} only, not --by ${options.by}`)
  const most = limits.maxFunctions
  if (most && facts.functions !== undefined && facts.functions > most.count)
    reasons.push(`${JSON.stringify(options.pattern)} matches ${facts.functions} functions, more than ${most.count}: ${most.why}`)
  return reasons
}
