// profile: on-CPU samples by stack. diag opens a cpu-clock perf event per online CPU at the
// asked frequency and attaches this program to each; every sample taken while a task (not the
// idle task) runs adds one to its stack key (bpf/stacks.h). bpf_get_stackid walks the stacks
// from the interrupted registers: a sample in user mode has no kernel stack (-EFAULT), a kernel
// thread no user stack.
#include "stacks.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct stack_key);
  __type(value, __u64);
} samples SEC(".maps");

SEC("perf_event")
int sample(void *ctx) {
  __u32 pid = (__u32)bpf_get_current_pid_tgid();
  if (!pid || !traced()) return 0;  // pid 0: the CPU was idle
  struct stack_key key = {};
  current_stack_key(ctx, &key);
  add_to_stack(&samples, &key, 1);
  return 0;
}
