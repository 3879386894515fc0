// offwaketime from the classic tracepoints: the switched-out task and the waker are the current
// one, the switched-in and the woken task's pids are read at their offsets from the format files,
// so no BTF is needed.
#include "offwaketime.h"

DIAG_KNOB(__u32, next_pid_offset, 56)  // "pid_t next_pid" in sched_switch
DIAG_KNOB(__u32, woken_pid_offset, 24)  // "pid_t pid" in sched_waking

SEC("tracepoint/sched/sched_switch")
int sched_switch(void *ctx) {
  __u32 next_pid = 0;
  READ_FIELD(ctx, KNOB(next_pid_offset), next_pid);
  switched_out(ctx);
  switched_in(next_pid);
  return 0;
}

SEC("tracepoint/sched/sched_waking")
int sched_waking(void *ctx) {
  __u32 pid = 0;
  READ_FIELD(ctx, KNOB(woken_pid_offset), pid);
  woken(ctx, pid);
  return 0;
}
