import type {Command} from '@oclif/core'

import {backendChoices as choicesOf, findTool} from './plan/tools.js'
import {HELP as GETHOSTLATENCY_HELP} from '../tools/gethostlatency/tool.js'

/**
 * What `diag help TOOL`, `diag TOOL --help` and the man pages (scripts/cli-docs.mjs) say about each
 * tool. The prose is here; the backends are read from the candidates in plan/tools.ts, so the help
 * lists exactly what routing will try, in its order.
 */
interface ToolHelp {
  /** What the tool measures, in one paragraph. */
  measures: string
  /** The classic tool it follows: bcc, perf-tools, bpftrace. */
  origin: string
  examples: Command.Example[]
}

const TOOL_HELP: Record<string, ToolHelp> = {
  syscount: {
    measures: `Counts the system calls made while it runs, by syscall name (or by process with --by process),
and prints the busiest first. A quick answer to "what is this program asking the kernel to do, and
how often": a storm of futex or poll calls, stat calls on every request, a read loop with a tiny buffer.`,
    origin: `bcc's syscount(8) and perf-tools' syscount (Brendan Gregg), which count with BPF and with perf.`,
    examples: [
      {description: 'The busiest syscalls of the whole system over 5 seconds:', command: '<%= config.bin %> syscount -d 5'},
      {description: 'Which processes make the most syscalls, a table every second until Ctrl-C:', command: '<%= config.bin %> syscount --by process -i 1'},
      {description: 'The syscalls of one build and its children, as JSON:', command: '<%= config.bin %> syscount --json -- make -j2'},
    ],
  },
  funccount: {
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
  biolatency: {
    measures: `Times every block device I/O from when the device is given the request until it completes (or,
with --queued, from when the request is made), and prints the times as a log2 histogram, one for all
disks or one per disk. Tells a slow disk from a busy one: a second mode far out in the histogram is
the outliers an average hides.`,
    origin: `bcc's biolatency(8) and perf-tools' iolatency, both on the block request tracepoints.`,
    examples: [
      {description: 'Disk I/O latency over 10 seconds, in microseconds:', command: '<%= config.bin %> biolatency -d 10'},
      {description: 'One histogram per disk, in milliseconds, every 5 seconds:', command: '<%= config.bin %> biolatency --disks --unit ms -i 5'},
      {description: 'Include the time requests wait in the I/O scheduler, during a database load:', command: '<%= config.bin %> biolatency --queued -- pg_restore -d app dump.sql'},
    ],
  },
  runqlat: {
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
  funcprofile: {
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
  gethostlatency: GETHOSTLATENCY_HELP,
}

/** The help paragraph of a tool, its origin, and the backends it can use, in routing order. */
export function toolDescription(name: string): string {
  const tool = findTool(name)
  const help = TOOL_HELP[name]
  if (!tool || !help) throw new Error(`no help for tool ${name}`)
  const backends = tool.candidates.map((c) => `- ${c.id} (${c.backend}): ${c.method}`)
  return [
    help.measures.replace(/\n/g, ' '),
    '',
    `Follows ${help.origin.replace(/\n/g, ' ')}`,
    '',
    'Backends, in order of preference (the first this kernel supports runs; --backend forces a backend name or an id):',
    ...backends,
  ].join('\n')
}

export function toolExamples(name: string): Command.Example[] {
  const help = TOOL_HELP[name]
  if (!help) throw new Error(`no help for tool ${name}`)
  return help.examples
}

/** What --backend accepts for a tool: each backend's name, then each candidate's id. */
export function backendChoices(name: string): string[] {
  const tool = findTool(name)
  if (!tool) throw new Error(`unknown tool ${name}`)
  return choicesOf(tool)
}
