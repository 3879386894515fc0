// What both offcputime objects share: when a task was switched out and with which stacks, and
// the time blocked summed per stack key (bpf/stacks.h: thread, process, comm, user stack, kernel
// stack), which diag reads and names (backends/bpf/stack-counts.ts). offcputime.bpf.c feeds it
// from the classic sched_switch (no BTF needed), offcputime.tp_btf.bpf.c from the BTF-typed one.
#ifndef DIAG_OFFCPUTIME_H
#define DIAG_OFFCPUTIME_H

#include "stacks.h"

DIAG_KNOB(__u64, min_block_ns, 1)

struct offcpu_start {
  __u64 at;
  struct stack_key key;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, struct offcpu_start);
} start SEC(".maps");

// Nanoseconds blocked, summed.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct stack_key);
  __type(value, __u64);
} blocked SEC(".maps");

// The task switching out is the current one: its pid, comm and stacks are current's.
static __always_inline void switched_out(void *ctx) {
  __u32 pid = (__u32)bpf_get_current_pid_tgid();
  if (!pid || !traced()) return;  // pid 0: a CPU going idle, not a task blocking
  struct offcpu_start s = {};
  current_stack_key(ctx, &s.key);
  s.at = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&start, &pid, &s, BPF_ANY)) count_lost();
}

// The task gets a CPU again: the time since it was switched out goes to its stacks.
static __always_inline void switched_in(__u32 pid) {
  struct offcpu_start *s = bpf_map_lookup_elem(&start, &pid);
  if (!s) return;
  __u64 delta = bpf_ktime_get_ns() - s->at;
  struct stack_key key;  // map operations take keys from the stack on 4.x
  __builtin_memcpy(&key, &s->key, sizeof(key));
  bpf_map_delete_elem(&start, &pid);
  if ((__s64)delta < 0 || delta < KNOB(min_block_ns)) return;
  add_to_stack(&blocked, &key, delta);
}

#endif
