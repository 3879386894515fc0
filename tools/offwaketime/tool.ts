import {BLOCKED_STACKS, BPF_COUNTS, KNOBS, TP_BTF} from '../../src/plan/needs.js'
import {defineTool} from '../../src/plan/tool.js'
import {minBlockFlag, pidFlag, stackFlags, stacksWanted} from '../../src/tool-flags.js'
import type {OffcputimeOptions} from '../offcputime/tool.js'

// Every candidate but the tp_btf one reads the waker at sched_waking as a tracefs event (4.3+).
const WAKING = 'sched-waking-tracepoint'

/** The same choices as offcputime's: the blocked tasks, the shortest block, which stacks. */
export type OffwaketimeOptions = OffcputimeOptions

export const offwaketime = defineTool({
  name: 'offwaketime',
  summary: 'time spent blocked, by the blocked stack joined with the stack of the task that woke it',
  output: 'stacks',
  command: {
    summary: 'Time spent blocked (off CPU), summed by the blocked task\'s stacks and its waker\'s, as folded off-wake stacks',
    usage: 'offwaketime [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {
      pid: pidFlag,
      'min-block': minBlockFlag,
      ...stackFlags,
    },
  },
  help: {
    measures: `Sums the time tasks spend switched out of a CPU, as offcputime does, by the stacks they blocked
in joined with the stacks of the task that woke them: why a task waited, and who ended the wait.
Into a pipe or a file each stack is printed folded as bcc's offwaketime prints it (at a terminal, the
ten largest a frame a line): the blocked task's comm and frames
outermost first, a \`--\` frame, then the waker's frames innermost first (kernel, then user) and
its comm last (\`app;main;read;...;schedule;--;try_to_wake_up;...;pipe_write;...;write;worker;app 12345\`,
microseconds), so that in a flame graph (--svg FILE) the waker's stack stands on the blocked one's.
A block whose wakeup diag did not see (the task was preempted rather than woken, or woken before
tracing began) is counted with the waker \`[unknown waker]\`. The waker is taken where the wakeup
is made (sched_waking), so a wakeup from an interrupt shows the interrupted task and the interrupt's
kernel frames. Without BPF, perf (kernel and user stacks) or the ftrace stream (kernel stacks only)
records the same events and diag pairs them, each block joined with the stacks recorded at its first
wakeup.`,
    origin: `bcc's offwaketime(8) (Brendan Gregg's off-wake flame graphs), on the sched_switch and sched_waking tracepoints.`,
    examples: [
      {description: 'Off-wake time of the whole system for 10 seconds, blocks of 1 ms or more:', command: '<%= config.bin %> offwaketime -d 10 --min-block 1000'},
      {description: 'Who wakes one process, kernel stacks only:', command: '<%= config.bin %> offwaketime -p 1234 --kernel-only -d 5'},
      {description: 'An off-wake flame graph of a command, to open in a browser:', command: '<%= config.bin %> offwaketime --svg offwake.svg -- ./server --once'},
    ],
  },
  options({flags}): OffwaketimeOptions {
    return {pid: flags.pid, minBlockUs: flags['min-block'], ...stacksWanted(flags)}
  },
  candidates: [
    {
      id: 'bpf-tp-btf',
      backend: 'bpf',
      method: 'BPF programs on the BTF-typed sched_switch and sched_waking (tp_btf): the blocked and the waking stacks in a stack trace map, time blocked summed by both in a hash map',
      needs: [...BPF_COUNTS, ...BLOCKED_STACKS, ...TP_BTF],
      runner: async () => (await import('./bpf.js')).tpBtf,
    },
    {
      id: 'bpf-tracepoint',
      backend: 'bpf',
      method: 'BPF programs on sched_switch and sched_waking: the blocked and the waking stacks in a stack trace map, time blocked summed by both in a hash map',
      needs: [...BPF_COUNTS, ...BLOCKED_STACKS, 'bpf-map-array', 'bpf-tracepoint', 'tracepoints', WAKING],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).tracepoint,
    },
    {
      id: 'perf-record',
      backend: 'perf',
      method:
        '`perf record -e sched:sched_switch -e sched:sched_waking -g` on every CPU, read back with `perf script` and paired in diag: each block\'s stacks joined with those recorded at its first sched_waking (the waker\'s), kernel and user',
      needs: ['perf-tool', 'perf-event-tracepoint', WAKING],
      runner: async () => (await import('./perf.js')).record,
    },
    {
      id: 'ftrace-stream',
      backend: 'ftrace',
      method:
        'sched_switch and sched_waking events with their kernel stacks (the stacktrace option) from a private instance, paired in diag: each block\'s kernel stack joined with its first waker\'s; kernel stacks only',
      needs: ['ftrace-instances', 'tracepoints', WAKING],
      accepts: (options) => (options.stacks === 'user' ? ['records kernel stacks only, not --user-only'] : []),
      runner: async () => (await import('./ftrace.js')).stream,
    },
  ],
})
