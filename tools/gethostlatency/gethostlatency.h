// What gethostlatency's BPF programs and tools/gethostlatency/bpf.ts share: one record per lookup.
#ifndef GETHOSTLATENCY_H
#define GETHOSTLATENCY_H

#define HOST_LEN 80
#define COMM_LEN 16

// Offsets (bpf.ts reads them): end_ns 0, latency_ns 8, pid 16, comm 24, host 40; 120 bytes.
struct lookup_event {
  __u64 end_ns;      // bpf_ktime_get_ns() at the return: CLOCK_MONOTONIC
  __u64 latency_ns;
  __u32 pid;         // the process (thread group)
  __u32 tid;
  char comm[COMM_LEN];
  char host[HOST_LEN];  // NUL-terminated, cut at HOST_LEN - 1
};

#endif
