// How much diag's BPF syscount slows a syscall-heavy workload, next to two peers on the same
// workload in one interleaved run: bpftrace counting the same tracepoint by syscall id, and
// `perf stat` counting raw_syscalls:sys_enter with one counter (the kernel's own cost of counting,
// with no per-syscall split). diag runs on each of its BPF attach points: the BTF-typed tracepoint
// (tp_btf, what it picks where the kernel has BTF), the raw tracepoint, and the classic one, as
// bpftrace. Usage: node bench/syscount.mjs [calls] [runs]   (root; after npm run build)
import {fileURLToPath} from 'node:url'

import {compareOverhead} from './overhead.mjs'
import {withTracefsMounted} from './tracefs.mjs'

const calls = Number(process.argv[2] ?? 2_000_000)
const runs = Number(process.argv[3] ?? 5)
const workload = fileURLToPath(new URL('../test/workload/diag-workload', import.meta.url))
const diag = fileURLToPath(new URL('../bin/run.js', import.meta.url))

// Each says when it is attached (`ready`) and, at its end, how many getppid calls it saw (`seen`).
const byId = /(getppid\s+|@\[110\]: )(\d+)/ // diag's table row, bpftrace's map (getppid is 110 on x86_64)
const diagOn = (candidate) => ({command: process.execPath, args: [diag, 'syscount', '--backend', candidate], ready: 'Hit Ctrl-C', seen: byId})
const TRACERS = {
  'diag syscount, tp_btf': diagOn('bpf-tp-btf'),
  'diag syscount, raw tracepoint': diagOn('bpf-raw-tracepoint'),
  'diag syscount, tracepoint': diagOn('bpf-tracepoint'),
  bpftrace: {command: 'bpftrace', args: ['-e', 'tracepoint:raw_syscalls:sys_enter { @[args->id] = count(); }'], ready: 'Attaching', seen: byId},
  // perf stat runs its command once its counters are enabled: that command says when.
  'perf stat (one counter)': {
    command: 'perf',
    args: ['stat', '-a', '-e', 'raw_syscalls:sys_enter', '--', 'sh', '-c', 'echo perf-counting; exec sleep 1000'],
    ready: 'perf-counting',
    seen: /([\d,]+)\s+raw_syscalls:sys_enter/,
  },
}
const PEERS = ['bpftrace', 'perf stat (one counter)']

await withTracefsMounted(() =>
  compareOverhead({title: `workload: ${calls} getppid calls`, workload: [workload, 'getppid', String(calls)], tracers: TRACERS, peers: PEERS, runs}),
)
