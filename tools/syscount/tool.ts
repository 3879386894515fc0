import {Flags} from '@oclif/core'

import {BadInputError} from '../../src/errors.js'
import {BPF, KNOBS, TP_BTF} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import {isSyscallName} from '../../src/result/normalize.js'
import {pidFlag, topFlag} from '../../src/tool-flags.js'

export interface SyscountOptions extends ToolOptions {
  /** process: a thread group (tgid, what ps calls a process); thread: each thread by its own id. */
  by: 'syscall' | 'process' | 'thread'
  top: number
  /** Only these syscalls (by name), when given. */
  syscalls?: ReadonlySet<string>
}

// Counts by syscall number in a per-CPU array, by process in a per-CPU hash (syscount.h).
const MAPS = ['bpf-map-percpu-array', 'bpf-map-percpu-hash', 'bpf-helper-get-current-comm']

export const syscount = defineTool({
  name: 'syscount',
  summary: 'system call counts, by syscall or by process',
  output: 'counts',
  command: {
    summary: 'Count system calls, by syscall, process or thread',
    usage: 'syscount [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {
      by: Flags.option({
        options: ['syscall', 'process', 'thread'] as const,
        default: 'syscall',
        summary: 'What to count by: syscall, process (all its threads together) or thread',
      })(),
      pid: pidFlag,
      top: topFlag(20),
      syscall: Flags.string({char: 's', multiple: true, summary: 'Only this syscall (by name; repeat for more)'}),
    },
  },
  help: {
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
  options({flags}): SyscountOptions {
    const unknown = (flags.syscall ?? []).filter((name) => !isSyscallName(name))
    if (unknown.length > 0) throw new BadInputError(`unknown syscall: ${unknown.join(', ')}`)
    if (flags.syscall && flags.by !== 'syscall') throw new BadInputError(`--syscall counts by syscall; it does not go with --by ${flags.by}`)
    return {by: flags.by, pid: flags.pid, top: flags.top, syscalls: flags.syscall && new Set(flags.syscall)}
  },
  candidates: [
    {
      id: 'bpf-tp-btf',
      backend: 'bpf',
      method: 'BPF program on the BTF-typed raw_syscalls:sys_enter (tp_btf), counts in a per-CPU array by syscall number',
      needs: [...BPF, ...MAPS, ...TP_BTF, 'syscall-tracepoints'],
      runner: async () => (await import('./bpf.js')).tpBtf,
    },
    {
      id: 'bpf-raw-tracepoint',
      backend: 'bpf',
      method: 'BPF program on the raw sys_enter tracepoint, counts in a per-CPU array by syscall number',
      // bpf-tracepoint: the fork follower of the process filter is a classic tracepoint program.
      needs: [...BPF, ...MAPS, 'bpf-raw-tracepoint', 'bpf-tracepoint', 'syscall-tracepoints'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).rawTracepoint,
    },
    {
      id: 'bpf-tracepoint',
      backend: 'bpf',
      method: 'BPF program on raw_syscalls:sys_enter, counts in a per-CPU array by syscall number',
      needs: [...BPF, ...MAPS, 'bpf-tracepoint', 'syscall-tracepoints'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).tracepoint,
    },
    {
      id: 'ftrace-hist',
      backend: 'ftrace',
      method: 'hist trigger keyed by id.syscall on raw_syscalls:sys_enter',
      needs: ['ftrace-instances', 'syscall-tracepoints', 'hist-triggers'],
      // A hist key has the thread (common_pid) but no thread group: threads gone before a read
      // could not be added into their process.
      limits: {by: ['syscall', 'thread']},
      runner: async () => (await import('./ftrace.js')).hist,
    },
    {
      id: 'perf-stat',
      backend: 'perf',
      method: 'perf stat counting the syscalls:sys_enter_* tracepoints',
      needs: ['perf-tool', 'perf-event-tracepoint', 'syscall-tracepoints'],
      // perf stat counts per event, and the events are the syscalls.
      limits: {by: ['syscall']},
      runner: async () => (await import('./perf.js')).stat,
    },
    {
      id: 'ftrace-stream',
      backend: 'ftrace',
      method: 'raw_syscalls:sys_enter events from a private instance, counted in diag',
      needs: ['ftrace-instances', 'tracepoints', 'syscall-tracepoints'],
      runner: async () => (await import('./ftrace.js')).stream,
    },
  ],
})
