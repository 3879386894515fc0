// runqlat on BTF-typed tracepoints (tp_btf, 5.5+): the scheduler hands over the tasks themselves,
// so the program reads a switched-out task's real state (a task preempted in the kernel is
// runnable, which the classic tracepoint's prev_state hides) and needs no format offsets. Field
// offsets are relocated against the running kernel's BTF by libbpf (CO-RE).
#include "runqlat.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct {
  int pid;
  unsigned int __state;
} __attribute__((preserve_access_index));

// Before 5.14 the state was `long state`.
struct task_struct___pre_5_14 {
  long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *task) {
  if (bpf_core_field_exists(task->__state)) return BPF_CORE_READ(task, __state);
  return BPF_CORE_READ((struct task_struct___pre_5_14 *)task, state);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *task) {
  enqueue(BPF_CORE_READ(task, pid));
  return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *task) {
  enqueue(BPF_CORE_READ(task, pid));
  return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, _Bool preempt, struct task_struct *prev, struct task_struct *next) {
  // A preempted task stays on its run queue whatever its state says (it may have been about to
  // sleep): it waits, as the classic tracepoint's "R+" says.
  if (preempt || task_state(prev) == TASK_RUNNING) enqueue(BPF_CORE_READ(prev, pid));
  ran(BPF_CORE_READ(next, pid));
  return 0;
}
