// offcputime: time blocked by stack, from the classic sched_switch tracepoint: the switched-out
// task is the current one (its pid, comm and stacks are current's), the switched-in task's pid is
// read at its offset from the format file, so no BTF is needed.
#include "offcputime.h"

DIAG_KNOB(__u32, next_pid_offset, 56)  // "pid_t next_pid" in sched_switch

SEC("tracepoint/sched/sched_switch")
int sched_switch(void *ctx) {
  __u32 next_pid = 0;
  READ_FIELD(ctx, KNOB(next_pid_offset), next_pid);
  switched_out(ctx);
  switched_in(next_pid);
  return 0;
}
