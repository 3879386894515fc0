// What both runqlat objects share: a task's enqueue time by pid, and the histogram of how long
// it waited when it next runs. runqlat.bpf.c feeds it from classic tracepoints (no BTF needed),
// runqlat.tp_btf.bpf.c from BTF-typed ones.
#ifndef DIAG_RUNQLAT_H
#define DIAG_RUNQLAT_H

#include "diag.h"

DIAG_KNOB(__u64, unit_ns, 1000)

#define TASK_RUNNING 0

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, __u64);
} start SEC(".maps");

DIAG_HISTOGRAM_MAP(64);

// The task joins a run queue (woken, new, or preempted while runnable).
static __always_inline void enqueue(__u32 pid) {
  if (!pid) return;
  __u64 now = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&start, &pid, &now, BPF_ANY)) count_lost();
}

// The task got a CPU: its wait, if diag saw it start, goes into the histogram.
static __always_inline void ran(__u32 pid) {
  __u64 *queued = bpf_map_lookup_elem(&start, &pid);
  if (!queued) return;
  __u64 delta = bpf_ktime_get_ns() - *queued;
  bpf_map_delete_elem(&start, &pid);
  struct hist_key slot = {.label = 0, .slot = log2_slot(delta / KNOB(unit_ns))};
  increment(&hist, &slot);
}

#endif
