import {Flags} from '@oclif/core'

import {BLOCKED_STACKS, BPF_COUNTS, KNOBS, TP_BTF} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import {minBlockFlag, pidFlag, stackFlags, stacksWanted} from '../../src/tool-flags.js'
import {parseStateLetters} from '../../src/tracefs/task-state.js'

export interface OffcputimeOptions extends ToolOptions {
  /** Blocks shorter than this many microseconds are not counted. */
  minBlockUs: number
  /** Which stacks to record. */
  stacks: 'both' | 'kernel' | 'user'
  /** Stacks of each process apart (`comm-PID` as the first frame), not only of each comm. */
  perPid: boolean
  /** Only blocks whose task state at switch-out is one of these letters (S, D, ...), as ps shows them. */
  states?: string[]
}

export const offcputime = defineTool({
  name: 'offcputime',
  summary: 'time spent blocked (off CPU), by kernel and user stack',
  output: 'stacks',
  command: {
    summary: 'Time spent blocked (off CPU), summed by kernel and user stack, as folded stacks',
    usage: 'offcputime [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {
      pid: pidFlag,
      'min-block': minBlockFlag,
      state: Flags.string({
        summary: 'Only count blocks that start in one of these task states, by letter as ps shows them: S (sleeping), D (uninterruptible, mostly I/O), ...',
        helpValue: 'STATES',
      }),
      ...stackFlags,
    },
  },
  help: {
    measures: `Sums the time tasks spend switched out of a CPU, from the moment the scheduler takes one off
until it runs again, by the stacks it blocked in: the kernel's (why it waited: a lock, I/O, a
sleep) and its own (which code asked for it). The complement of a CPU profile: where the time
goes when a program is slow but not busy. Into a pipe or a file each stack is printed folded,
outermost frame first (\`comm;main;read_config;...;schedule 12345\`, microseconds), the input of
flame graph tools (flamegraph.pl, speedscope); at a terminal, the ten largest a frame a line; --svg FILE writes diag's own flame graph, kernel and user frames
apart. The time includes waiting on a run queue after the wakeup. --state D keeps the blocks
that start in uninterruptible sleep (mostly disk I/O), --state S those in interruptible sleep
(sleeps, waiting on a socket or a pipe); the letters are the running kernel's, as its
sched_switch format names them.`,
    origin: `bcc's offcputime(8) (Brendan Gregg's off-CPU analysis), on the sched_switch tracepoint.`,
    examples: [
      {description: 'Where one process blocks, kernel stacks only, per process:', command: '<%= config.bin %> offcputime -p 1234 --kernel-only --per-pid -d 5'},
      {description: 'Where the whole system waits on the disk (uninterruptible sleep) for 10 seconds, blocks of 1 ms or more:', command: '<%= config.bin %> offcputime --state D -d 10 --min-block 1000'},
      {description: 'A flame graph of a command\'s off-CPU time, to open in a browser:', command: '<%= config.bin %> offcputime --svg offcpu.svg -- ./server --once'},
    ],
  },
  options({flags}): OffcputimeOptions {
    const states = flags.state === undefined ? undefined : parseStateLetters(flags.state)
    return {pid: flags.pid, minBlockUs: flags['min-block'], ...stacksWanted(flags), ...(states && {states})}
  },
  candidates: [
    {
      id: 'bpf-tp-btf',
      backend: 'bpf',
      method: 'BPF program on the BTF-typed sched_switch (tp_btf): stacks in a stack trace map, time blocked summed by stack in a hash map',
      needs: [...BPF_COUNTS, ...BLOCKED_STACKS, ...TP_BTF],
      // Its prev_state is the task's raw state, not the reported bits the format's letters name.
      accepts: (options) => (options.states ? ['reads the raw task state, not the states the sched_switch format names: not --state'] : []),
      runner: async () => (await import('./bpf.js')).tpBtf,
    },
    {
      id: 'bpf-tracepoint',
      backend: 'bpf',
      method: 'BPF program on sched_switch: stacks in a stack trace map, time blocked summed by stack in a hash map',
      needs: [...BPF_COUNTS, ...BLOCKED_STACKS, 'bpf-map-array', 'bpf-tracepoint', 'tracepoints'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).tracepoint,
    },
    {
      id: 'perf-record',
      backend: 'perf',
      method:
        '`perf record -e sched:sched_switch -e sched:sched_wakeup -g` on every CPU, read back with `perf script` and paired in diag (as the ftrace stream): kernel and user stacks',
      needs: ['perf-tool', 'perf-event-tracepoint'],
      runner: async () => (await import('./perf.js')).record,
    },
    {
      id: 'ftrace-stream',
      backend: 'ftrace',
      method: 'sched_switch events with their kernel stacks (the stacktrace option) and sched_wakeup from a private instance, paired in diag; kernel stacks only',
      needs: ['ftrace-instances', 'tracepoints'],
      accepts: (options) => (options.stacks === 'user' ? ['records kernel stacks only, not --user-only'] : []),
      runner: async () => (await import('./ftrace.js')).stream,
    },
  ],
})
