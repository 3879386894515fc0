// Minimal programs, one per attach type, that the capability probe loads and attaches one at a
// time (src/probe/bpf-probes.ts). Each does nothing: a successful load and attach is the answer.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tracepoint")
int probe_tracepoint(void *ctx) { return 0; }

SEC("raw_tracepoint")
int probe_raw_tracepoint(void *ctx) { return 0; }

SEC("kprobe")
int probe_kprobe(void *ctx) { return 0; }

SEC("uprobe")
int probe_uprobe(void *ctx) { return 0; }

SEC("kprobe.multi")
int probe_kprobe_multi(void *ctx) { return 0; }

SEC("fentry")
int probe_fentry(void *ctx) { return 0; }

SEC("tp_btf/sched_switch")
int probe_tp_btf(void *ctx) { return 0; }

SEC("perf_event")
int probe_perf_event(void *ctx) { return 0; }

// Reads a read-only global (.rodata): loads only where the kernel has global data (5.2+). Without
// it libbpf cannot create the .rodata map and the load fails.
const volatile int probe_global = 0;

SEC("tracepoint")
int probe_global_data(void *ctx) { return probe_global; }
