// How much diag's offcputime slows a context-switch-heavy workload (two processes ping-ponging a
// byte through pipes), next to bpftrace doing the same aggregation on the same tracepoint in one
// interleaved run: time from switch-out to switch-in summed by comm, kernel stack and user stack.
// diag runs on each candidate this kernel has: BPF on the BTF-typed sched_switch, on the classic
// one, and the ftrace stream (stacktrace option, paired in diag).
// Usage: node bench/offcputime.mjs [round-trips] [runs]   (root; after npm run build)
import {fileURLToPath} from 'node:url'

import {compareOverhead} from './overhead.mjs'
import {withTracefsMounted} from './tracefs.mjs'

const trips = Number(process.argv[2] ?? 200_000)
const runs = Number(process.argv[3] ?? 5)
const workload = fileURLToPath(new URL('../test/workload/diag-workload', import.meta.url))
const diag = fileURLToPath(new URL('../bin/run.js', import.meta.url))

// The same aggregation as diag's: the stacks of the task switching out, kept until it switches back in.
// Its map is dropped at the end, not printed: naming thousands of user stacks takes bpftrace minutes,
// after the workload's time; @seen shows it saw the workload.
const BPFTRACE = `tracepoint:sched:sched_switch {
  if (args->prev_pid != 0) { @start[args->prev_pid] = nsecs; @ks[args->prev_pid] = kstack; @us[args->prev_pid] = ustack; }
  $since = @start[args->next_pid];
  if ($since != 0) {
    @blocked[args->next_comm, @ks[args->next_pid], @us[args->next_pid]] = sum(nsecs - $since);
    delete(@start[args->next_pid]);
    if (args->next_comm == "diag-workload") { @seen = count(); }
  }
}
END { clear(@start); clear(@ks); clear(@us); clear(@blocked); }`

// Each must show the workload's blocks: a folded line of diag's, a map key of bpftrace's.
const diagOn = (candidate) => ({command: process.execPath, args: [diag, 'offcputime', '--backend', candidate], ready: 'Hit Ctrl-C', seen: /^diag-workload;/m})
const TRACERS = {
  'diag offcputime, tp_btf': diagOn('bpf-tp-btf'),
  'diag offcputime, tracepoint': diagOn('bpf-tracepoint'),
  'diag offcputime, ftrace stream': diagOn('ftrace-stream'),
  bpftrace: {command: 'bpftrace', args: ['-e', BPFTRACE], ready: 'Attaching', seen: /@seen: [1-9]/},
}

await withTracefsMounted(() =>
  compareOverhead({title: `workload: ${trips} pipe round trips`, workload: [workload, 'wakeups', String(trips)], tracers: TRACERS, peers: ['bpftrace'], runs}),
)
