/**
 * Groups of capabilities that many candidates need, named once so that the tool modules read as
 * what is special about each candidate.
 */
import {SLOTS} from '../../backends/bpf/slots.js'
import type {Limits} from './tool.js'

// Every classic BPF object reads tracepoint fields, the forked child's pid at least, with
// bpf_probe_read; its knobs are globals where the kernel has global data, else in maps.
export const BPF = ['bpf-syscall', 'bpf-helper-probe-read']
export const BPF_COUNTS = [...BPF, 'bpf-map-hash']
export const KNOBS = {uses: ['bpf-global-data']}
// The tp_btf objects are built only with globals: a kernel with tp_btf (5.5) has global data (5.2).
export const TP_BTF = ['btf', 'bpf-tp-btf', 'bpf-global-data']

// Time blocked by stack (offcputime, offwaketime): the stack trace map and the helper that fills
// it, the comm of the blocked task, and the time.
export const BLOCKED_STACKS = ['bpf-map-stack-trace', 'bpf-helper-get-stackid', 'bpf-helper-get-current-comm', 'bpf-helper-ktime-get-ns']

// Timing kernel functions (funcprofile, funclatency): an entry time per thread in a hash, by fentry/fexit
// or kprobe/kretprobe pairs (bpf/function-timing.h).
export const TIMED_FENTRY = [...BPF_COUNTS, 'bpf-helper-ktime-get-ns', 'btf', 'bpf-fentry']
export const TIMED_KPROBE = [...BPF_COUNTS, 'bpf-helper-ktime-get-ns', 'bpf-kprobe']

export const PROGRAM_PER_FUNCTION: Limits = {
  maxFunctions: {count: SLOTS, why: `one program per function, and the object has ${SLOTS} (narrow the pattern, or use a kernel with kprobe_multi, 5.18+)`},
}
// kprobe events cost a definition each; more than this is a job for the profiler or BPF.
export const KPROBE_EVENTS: Limits = {maxFunctions: {count: 256, why: 'one kprobe event per function, and diag defines up to 256'}}
