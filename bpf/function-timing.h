// Timing kernel functions, one slot each (funcprofile, funclatency): function i of a pattern's
// matches has slot i and two pairs of programs, fentry/fexit and kprobe/kretprobe, of which diag
// loads and attaches one. The entry saves the time by (thread, slot); the return hands the call's
// duration to the tool's own record_call(slot, ns), defined after this header is included.
#ifndef DIAG_FUNCTION_TIMING_H
#define DIAG_FUNCTION_TIMING_H

#include "diag.h"

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

static __always_inline void record_call(__u32 slot, __u64 ns);

static __always_inline int call_entered(__u32 slot) {
  if (!traced()) return 0;
  struct call call = {.tid = (__u32)bpf_get_current_pid_tgid(), .slot = slot};
  __u64 now = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&start, &call, &now, BPF_ANY)) count_lost();
  return 0;
}

static __always_inline int call_returned(__u32 slot) {
  struct call call = {.tid = (__u32)bpf_get_current_pid_tgid(), .slot = slot};
  __u64 *entered = bpf_map_lookup_elem(&start, &call);
  if (!entered) return 0;  // entered before tracing began, or not traced
  __u64 ns = bpf_ktime_get_ns() - *entered;
  bpf_map_delete_elem(&start, &call);
  record_call(slot, ns);
  return 0;
}

// The programs of one slot: DIAG_EACH_SLOT(DIAG_TIMING_PROGRAMS) defines them all (diag.h).
#define DIAG_TIMING_PROGRAMS(name, slot)                                           \
  SEC("fentry") int enter_fentry_##name(void *ctx) { return call_entered(slot); }  \
  SEC("fexit") int exit_fentry_##name(void *ctx) { return call_returned(slot); }   \
  SEC("kprobe") int enter_kprobe_##name(void *ctx) { return call_entered(slot); }  \
  SEC("kretprobe") int exit_kprobe_##name(void *ctx) { return call_returned(slot); }

#endif
