// What both syscount objects share: the per-CPU counts by syscall number or by process, and the
// process names. syscount.bpf.c feeds it from the classic raw_syscalls:sys_enter tracepoint (no BTF
// needed), syscount.tp_btf.bpf.c from the BTF-typed one, which passes the id as an argument.
#ifndef DIAG_SYSCOUNT_H
#define DIAG_SYSCOUNT_H

#include "diag.h"

// What a count is keyed by: the syscall number, the process (tgid) or the thread (the kernel's pid).
#define BY_SYSCALL 0
#define BY_PROCESS 1
#define BY_THREAD 2
const volatile __u8 count_by = BY_SYSCALL;

// Per-CPU: each CPU adds to its own copy without atomics, the cheapest count on a hot path.
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
  __u64 key = id;
  if (count_by != BY_SYSCALL) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 who = count_by == BY_PROCESS ? pid_tgid >> 32 : (__u32)pid_tgid;
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
