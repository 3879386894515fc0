// What both offcputime objects share: when a task was switched out and with which stacks, and
// the time blocked summed per (thread, process, comm, user stack, kernel stack). The stacks are
// ids into a stack trace map, which diag reads and names (src/symbols/). offcputime.bpf.c feeds
// it from the classic sched_switch (no BTF needed), offcputime.tp_btf.bpf.c from the BTF-typed one.
#ifndef DIAG_OFFCPUTIME_H
#define DIAG_OFFCPUTIME_H

#include "diag.h"

#define COMM_LEN 16
#define MAX_FRAMES 127  // PERF_MAX_STACK_DEPTH
// A stack id diag did not ask for (--kernel-only, --user-only); bpf_get_stackid's own failures
// are negative errnos.
#define NO_STACK -1

DIAG_KNOB(__u64, min_block_ns, 1)
DIAG_KNOB(__u8, user_stacks, 1)
DIAG_KNOB(__u8, kernel_stacks, 1)

// backends/.../tools/offcputime/bpf.ts decodes this layout: keep them together.
struct offcpu_key {
  __u32 pid;
  __u32 tgid;
  __s32 user_stack_id;
  __s32 kernel_stack_id;
  char comm[COMM_LEN];
};

struct offcpu_start {
  __u64 at;
  struct offcpu_key key;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, struct offcpu_start);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, 16384);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, MAX_FRAMES * sizeof(__u64));
} stacks SEC(".maps");

// Nanoseconds blocked, summed.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct offcpu_key);
  __type(value, __u64);
} blocked SEC(".maps");

// The processes behind the stacks, added when one gets its first stack: diag polls this small
// map to read each one's memory maps while it lives (its frames are named from them later).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, __u8);
} seen_tgids SEC(".maps");

// The task switching out is the current one: its pid, comm and stacks are current's.
static __always_inline void switched_out(void *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 pid = (__u32)pid_tgid;
  if (!pid || !traced()) return;  // pid 0: a CPU going idle, not a task blocking
  struct offcpu_start s = {};
  s.key.pid = pid;
  s.key.tgid = pid_tgid >> 32;
  s.key.user_stack_id = KNOB(user_stacks) ? bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK) : NO_STACK;
  s.key.kernel_stack_id = KNOB(kernel_stacks) ? bpf_get_stackid(ctx, &stacks, 0) : NO_STACK;
  bpf_get_current_comm(&s.key.comm, sizeof(s.key.comm));
  s.at = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&start, &pid, &s, BPF_ANY)) count_lost();
}

// The task gets a CPU again: the time since it was switched out goes to its stacks.
static __always_inline void switched_in(__u32 pid) {
  struct offcpu_start *s = bpf_map_lookup_elem(&start, &pid);
  if (!s) return;
  __u64 delta = bpf_ktime_get_ns() - s->at;
  struct offcpu_key key;  // map operations take keys from the stack on 4.x
  __builtin_memcpy(&key, &s->key, sizeof(key));
  bpf_map_delete_elem(&start, &pid);
  if ((__s64)delta < 0 || delta < KNOB(min_block_ns)) return;
  __u64 *sum = bpf_map_lookup_elem(&blocked, &key);
  if (sum) {
    __sync_fetch_and_add(sum, delta);
    return;
  }
  if (bpf_map_update_elem(&blocked, &key, &delta, BPF_NOEXIST) == 0) {
    __u8 yes = 1;
    bpf_map_update_elem(&seen_tgids, &key.tgid, &yes, BPF_NOEXIST);
    return;
  }
  sum = bpf_map_lookup_elem(&blocked, &key);  // another CPU made it first
  if (sum) __sync_fetch_and_add(sum, delta);
  else count_lost();
}

#endif
