// What the tools that sum a value by stack share (offcputime, offwaketime, profile): the key (thread, process,
// user and kernel stack ids, comm), the stack trace map the ids point into, and the processes
// behind new stacks. backends/bpf/stack-counts.ts reads them all: keep the layouts together.
#ifndef DIAG_STACKS_H
#define DIAG_STACKS_H

#include "diag.h"

#define COMM_LEN 16
#define MAX_FRAMES 127  // PERF_MAX_STACK_DEPTH
// A stack id diag did not ask for (--kernel-only, --user-only); bpf_get_stackid's own failures
// are negative errnos (-EFAULT: there is no such stack, as a kernel thread's user stack).
#define NO_STACK -1

DIAG_KNOB(__u8, user_stacks, 1)
DIAG_KNOB(__u8, kernel_stacks, 1)

struct stack_key {
  __u32 pid;
  __u32 tgid;
  __s32 user_stack_id;
  __s32 kernel_stack_id;
  char comm[COMM_LEN];
};

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, 16384);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, MAX_FRAMES * sizeof(__u64));
} stacks SEC(".maps");

// The processes behind the stacks, each with how many new keys (a stack, thread or comm not
// summed before) it has had: diag polls this small map to read each one's memory maps while it
// lives (its frames are named from them later), and again when it has new keys, whose stacks may
// be in code it mapped since (a library, or another program it exec'd).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, __u32);
} seen_tgids SEC(".maps");

// The current task's key: its ids, comm and the stacks diag asked for, as ctx has them.
static __always_inline void current_stack_key(void *ctx, struct stack_key *key) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  key->pid = (__u32)pid_tgid;
  key->tgid = pid_tgid >> 32;
  key->user_stack_id = KNOB(user_stacks) ? bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK) : NO_STACK;
  key->kernel_stack_id = KNOB(kernel_stacks) ? bpf_get_stackid(ctx, &stacks, 0) : NO_STACK;
  bpf_get_current_comm(&key->comm, sizeof(key->comm));
}

// Adds value to the key's sum in a hash map of u64 (the key on the BPF stack: map operations take
// keys from there on 4.x); 1 when the key is new, so that its processes go into seen_tgids.
static __always_inline int add_to_sum(void *sums, void *key, __u64 value) {
  __u64 *sum = bpf_map_lookup_elem(sums, key);
  if (sum) {
    __sync_fetch_and_add(sum, value);
    return 0;
  }
  if (bpf_map_update_elem(sums, key, &value, BPF_NOEXIST) == 0) return 1;
  sum = bpf_map_lookup_elem(sums, key);  // another CPU made it first
  if (sum) __sync_fetch_and_add(sum, value);
  else count_lost();
  return 0;
}

static __always_inline void remember_tgid(__u32 tgid) {
  __u32 *new_stacks = bpf_map_lookup_elem(&seen_tgids, &tgid);
  if (new_stacks) {
    __sync_fetch_and_add(new_stacks, 1);
    return;
  }
  __u32 first = 1;
  bpf_map_update_elem(&seen_tgids, &tgid, &first, BPF_NOEXIST);
}

// Adds value to the sum of a struct stack_key; a new key's process goes into seen_tgids.
static __always_inline void add_to_stack(void *sums, struct stack_key *key, __u64 value) {
  if (add_to_sum(sums, key, value)) remember_tgid(key->tgid);
}

#endif
