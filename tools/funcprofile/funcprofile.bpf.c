// funcprofile: hits and time of kernel functions, the function profiler's table built from BPF
// where a kernel has no profiler. The calls are timed per slot by function-timing.h.
#include "function-timing.h"

struct stats {
  __u64 hits;
  __u64 total_ns;
  __u64 squares_ns2;  // sum of squared durations, for the variance
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, DIAG_SLOTS);
  __type(key, __u32);
  __type(value, struct stats);
} slots SEC(".maps");

static __always_inline void record_call(__u32 slot, __u64 ns) {
  struct stats *s = bpf_map_lookup_elem(&slots, &slot);
  if (!s) return;
  s->hits += 1;  // per-CPU: no other CPU writes this copy
  s->total_ns += ns;
  s->squares_ns2 += ns * ns;
}

DIAG_EACH_SLOT(DIAG_TIMING_PROGRAMS)
