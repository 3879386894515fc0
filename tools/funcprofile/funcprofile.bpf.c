// funcprofile: hits and time of kernel functions, the function profiler's table built from BPF
// where a kernel has no profiler. Function i of the pattern's matches has slot i and a pair of
// programs: fentry/fexit, or kprobe/kretprobe.
#include "diag.h"


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

struct call {
  __u32 tid;
  __u32 slot;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, struct call);
  __type(value, __u64);
} start SEC(".maps");

static __always_inline int enter(__u32 slot) {
  if (!traced()) return 0;
  struct call call = {.tid = (__u32)bpf_get_current_pid_tgid(), .slot = slot};
  __u64 now = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&start, &call, &now, BPF_ANY)) count_lost();
  return 0;
}

static __always_inline int leave(__u32 slot) {
  struct call call = {.tid = (__u32)bpf_get_current_pid_tgid(), .slot = slot};
  __u64 *entered = bpf_map_lookup_elem(&start, &call);
  if (!entered) return 0;  // entered before tracing began, or not traced
  __u64 delta = bpf_ktime_get_ns() - *entered;
  bpf_map_delete_elem(&start, &call);
  struct stats *s = bpf_map_lookup_elem(&slots, &slot);
  if (!s) return 0;
  s->hits += 1;  // per-CPU: no other CPU writes this copy
  s->total_ns += delta;
  s->squares_ns2 += delta * delta;
  return 0;
}

// Each slot has an fentry/fexit and a kprobe/kretprobe pair timing into it (see DIAG_EACH_SLOT in diag.h).
#define PROGRAMS(name, slot)                                                 \
  SEC("fentry") int enter_fentry_##name(void *ctx) { return enter(slot); }   \
  SEC("fexit") int exit_fentry_##name(void *ctx) { return leave(slot); }     \
  SEC("kprobe") int enter_kprobe_##name(void *ctx) { return enter(slot); }   \
  SEC("kretprobe") int exit_kprobe_##name(void *ctx) { return leave(slot); }

DIAG_EACH_SLOT(PROGRAMS)
