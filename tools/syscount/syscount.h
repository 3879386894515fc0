// What the syscount objects share: the per-CPU counts by syscall number or by process, and the
// process names. syscount.tp_btf.bpf.c feeds it from the BTF-typed raw_syscalls:sys_enter and
// syscount.raw_tp.bpf.c from the raw tracepoint, both of which pass the id as an argument;
// syscount.bpf.c from the classic tracepoint, which fills a record to read it from (no BTF needed).
#ifndef DIAG_SYSCOUNT_H
#define DIAG_SYSCOUNT_H

#include "diag.h"

// What a count is keyed by: the syscall number, the process (tgid) or the thread (the kernel's pid).
#define BY_SYSCALL 0
#define BY_PROCESS 1
#define BY_THREAD 2
DIAG_KNOB(__u8, count_by, BY_SYSCALL)

// By syscall, the count is a slot of a per-CPU array indexed by the syscall number: a lookup that
// cannot miss and an add without atomics, the cheapest count on this hot path. Numbers outside
// the array (x32's, or -1 for a syscall the kernel does not know) go to the
// per-CPU hash below, and so do counts by process or thread. tools/syscount/bpf.ts reads both.
#define SYSCALL_SLOTS 1024

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SYSCALL_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} syscall_counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);  // syscall number, tgid or thread id
  __type(value, __u64);
} counts SEC(".maps");

struct comm {
  union {
    char name[16];
    __u64 words[2];  // to compare names without a memcmp call
  };
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct comm);
} comms SEC(".maps");

// Counts one system call of the current task, whose number is id.
static __always_inline void count_syscall(long id) {
  if (!traced()) return;
  if (KNOB(count_by) == BY_SYSCALL && id >= 0 && id < SYSCALL_SLOTS) {
    __u32 slot = id;
    __u64 *n = bpf_map_lookup_elem(&syscall_counts, &slot);
    if (n) *n += 1;
    return;
  }
  __u64 key = id;
  if (KNOB(count_by) != BY_SYSCALL) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 who = KNOB(count_by) == BY_PROCESS ? pid_tgid >> 32 : (__u32)pid_tgid;
    key = who;
    // The name it has now: it changes on exec, as when diag's gate execs the command.
    struct comm comm = {};
    bpf_get_current_comm(&comm.name, sizeof(comm.name));
    struct comm *known = bpf_map_lookup_elem(&comms, &who);
    if (!known || known->words[0] != comm.words[0] || known->words[1] != comm.words[1])
      bpf_map_update_elem(&comms, &who, &comm, BPF_ANY);
  }
  __u64 *n = bpf_map_lookup_elem(&counts, &key);
  if (n) {
    *n += 1;
    return;
  }
  __u64 one = 1;
  if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) == 0) return;
  n = bpf_map_lookup_elem(&counts, &key);  // another CPU created the key first
  if (n) *n += 1;
  else count_lost();  // the map is full
}

#endif
