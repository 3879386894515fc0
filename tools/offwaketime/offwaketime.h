// What both offwaketime objects share: a blocked task's stacks saved at its switch-out, the
// stacks of the task that woke it added at the wakeup, and the time blocked summed under both
// (struct offwake_key), which diag reads and names (backends/bpf/stack-counts.ts).
// offwaketime.bpf.c feeds it from the classic tracepoints (no BTF needed), offwaketime.tp_btf.bpf.c
// from the BTF-typed ones.
//
// The waker is taken at sched_waking (4.3+), not sched_wakeup: sched_waking runs in the waker,
// sched_wakeup may run later on the woken task's CPU (a queued remote wakeup), where the current
// task is not the waker. sched_wakeup_new is not traced: a new task's first run ends no block.
#ifndef DIAG_OFFWAKETIME_H
#define DIAG_OFFWAKETIME_H

#include "stacks.h"

DIAG_KNOB(__u64, min_block_ns, 1)

// The blocked task and its waker: a waker all zeros (an empty comm) is one diag did not see (the
// task was preempted, not woken, or woken before the programs were attached).
struct offwake_key {
  struct stack_key wakee;
  struct stack_key waker;
};

struct offwake_start {
  __u64 at;
  struct offwake_key key;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, struct offwake_start);
} start SEC(".maps");

// Nanoseconds blocked, summed.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct offwake_key);
  __type(value, __u64);
} blocked SEC(".maps");

// The task switching out is the current one: its pid, comm and stacks are current's.
static __always_inline void switched_out(void *ctx) {
  __u32 pid = (__u32)bpf_get_current_pid_tgid();
  if (!pid || !traced()) return;  // pid 0: a CPU going idle, not a task blocking
  struct offwake_start s = {};
  current_stack_key(ctx, &s.key.wakee);
  s.at = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&start, &pid, &s, BPF_ANY)) count_lost();
}

// The current task wakes pid: where pid is blocked and traced, its first waker's stacks are kept.
// Any process may be the waker, so the process filter is the blocked task's, not current's.
static __always_inline void woken(void *ctx, __u32 pid) {
  struct offwake_start *s = bpf_map_lookup_elem(&start, &pid);
  if (!s || s->key.waker.comm[0]) return;
  struct stack_key waker = {};  // helpers write to the BPF stack only on 4.x
  current_stack_key(ctx, &waker);
  __builtin_memcpy(&s->key.waker, &waker, sizeof(waker));
}

// The task gets a CPU again: the time since it was switched out goes to its stacks and its waker's.
static __always_inline void switched_in(__u32 pid) {
  struct offwake_start *s = bpf_map_lookup_elem(&start, &pid);
  if (!s) return;
  __u64 delta = bpf_ktime_get_ns() - s->at;
  struct offwake_key key;  // map operations take keys from the stack on 4.x
  __builtin_memcpy(&key, &s->key, sizeof(key));
  bpf_map_delete_elem(&start, &pid);
  if ((__s64)delta < 0 || delta < KNOB(min_block_ns)) return;
  if (add_to_sum(&blocked, &key, delta)) {
    remember_tgid(key.wakee.tgid);
    if (key.waker.tgid) remember_tgid(key.waker.tgid);  // not the idle task's 0
  }
}

#endif
