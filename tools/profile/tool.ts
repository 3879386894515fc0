import {Flags} from '@oclif/core'

import {BPF_COUNTS, KNOBS} from '../../src/plan/needs.js'
import type {ToolOptions} from '../../src/plan/options.js'
import {defineTool} from '../../src/plan/tool.js'
import {pidFlag, stackFlags, stacksWanted} from '../../src/tool-flags.js'

export interface ProfileOptions extends ToolOptions {
  /** Samples per second on each CPU. */
  frequency: number
  /** Which stacks to record. */
  stacks: 'both' | 'kernel' | 'user'
  /** Stacks of each process apart (`comm-PID` as the first frame), not only of each comm. */
  perPid: boolean
}

// bcc's profile samples at 49 Hz: a rate that does not beat with timers firing at round rates.
const DEFAULT_FREQUENCY = 49

// The stack trace map and the helper that fills it, and the comm of the sampled task.
const STACKS = ['bpf-map-stack-trace', 'bpf-helper-get-stackid', 'bpf-helper-get-current-comm']

export const profile = defineTool({
  name: 'profile',
  summary: 'on-CPU samples of kernel and user stacks, at a frequency',
  output: 'stacks',
  command: {
    summary: 'On-CPU time by stack: kernel and user stacks sampled at a frequency on every CPU, as folded stacks',
    usage: 'profile [FLAGS] [-- COMMAND [ARGS...]]',
    flags: {
      frequency: Flags.integer({char: 'F', min: 1, default: DEFAULT_FREQUENCY, summary: 'Samples per second on each CPU'}),
      pid: pidFlag,
      ...stackFlags,
    },
  },
  help: {
    measures: `Samples what every CPU is running, --frequency times a second (49 by default), and counts the
samples by stack: the running task's user stack (the code it was executing) and its kernel stack
when the sample came in the kernel (a system call, a page fault, an interrupt). Where the CPU time
goes: the stacks with the most samples are where the program spends it. Samples of an idle
CPU are left out. Into a pipe or a file each stack is printed folded, outermost frame first
(\`comm;main;parse;... 42\`, samples), the input of flame graph tools (flamegraph.pl, speedscope);
at a terminal, the ten largest a frame a line. Samples come from a cpu-clock timer,
so they work on virtual machines without hardware counters.`,
    origin: `bcc's profile(8), and \`perf record -F 49 -g\` folded as Brendan Gregg's stackcollapse-perf.pl does.`,
    examples: [
      {description: 'What the whole system runs, for 10 seconds:', command: '<%= config.bin %> profile -d 10'},
      {description: 'Where one process spends its CPU, at 99 Hz, user stacks only:', command: '<%= config.bin %> profile -p 1234 -F 99 --user-only -d 5'},
      {description: 'A CPU flame graph of a command:', command: '<%= config.bin %> profile -- ./build.sh > out.folded && flamegraph.pl out.folded > cpu.svg'},
    ],
  },
  options({flags}): ProfileOptions {
    return {pid: flags.pid, frequency: flags.frequency, ...stacksWanted(flags)}
  },
  candidates: [
    {
      id: 'bpf-perf-event',
      backend: 'bpf',
      method: 'BPF program on a cpu-clock perf event per CPU: stacks in a stack trace map, samples counted by stack in a hash map',
      needs: [...BPF_COUNTS, ...STACKS, 'bpf-perf-event', 'bpf-map-array', 'bpf-tracepoint', 'tracepoints'],
      ...KNOBS,
      runner: async () => (await import('./bpf.js')).perfEvent,
    },
    {
      id: 'perf-record',
      backend: 'perf',
      method: '`perf record -e cpu-clock -F N -g`, its samples read back with `perf script` and folded in diag',
      needs: ['perf-tool', 'perf-event-open'],
      runner: async () => (await import('./perf.js')).record,
    },
  ],
})
