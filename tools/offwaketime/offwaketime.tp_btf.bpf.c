// offwaketime on the BTF-typed tracepoints (tp_btf, 5.5+): the scheduler hands over the tasks
// switched in and woken, so no format offsets are read. Field offsets are relocated by libbpf (CO-RE).
#include "offwaketime.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct {
  int pid;
} __attribute__((preserve_access_index));

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, _Bool preempt, struct task_struct *prev, struct task_struct *next) {
  switched_out(ctx);
  switched_in(BPF_CORE_READ(next, pid));
  return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(sched_waking, struct task_struct *p) {
  woken(ctx, BPF_CORE_READ(p, pid));
  return 0;
}
