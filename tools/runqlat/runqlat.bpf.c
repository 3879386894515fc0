// runqlat: how long runnable tasks wait for a CPU, from wakeup (or preemption) to running, as a
// log2 histogram, from the classic sched tracepoints: fields at offsets read from their format
// files, so no BTF is needed.
#include "runqlat.h"

DIAG_KNOB(__u32, wakeup_pid_offset, 24)  // "pid_t pid" in sched_wakeup and sched_wakeup_new
DIAG_KNOB(__u32, prev_pid_offset, 24)    // sched_switch fields
DIAG_KNOB(__u32, prev_state_offset, 32)
DIAG_KNOB(__u32, next_pid_offset, 56)
DIAG_KNOB(__u32, preempt_marker, 0)     // the "+" bit of prev_state, from its print format; 0: unknown

static __always_inline int woken(void *ctx) {
  __u32 pid = 0;
  READ_FIELD(ctx, KNOB(wakeup_pid_offset), pid);
  enqueue(pid);
  return 0;
}

SEC("tracepoint/sched/sched_wakeup")
int sched_wakeup(void *ctx) { return woken(ctx); }

SEC("tracepoint/sched/sched_wakeup_new")
int sched_wakeup_new(void *ctx) { return woken(ctx); }

SEC("tracepoint/sched/sched_switch")
int sched_switch(void *ctx) {
  __u32 prev_pid = 0, next_pid = 0;
  long prev_state = 0;
  READ_FIELD(ctx, KNOB(prev_pid_offset), prev_pid);
  READ_FIELD(ctx, KNOB(prev_state_offset), prev_state);
  READ_FIELD(ctx, KNOB(next_pid_offset), next_pid);
  // Runnable when switched out: back on the run queue. A task preempted in the kernel reports
  // TASK_RUNNING plus a marker bit ("R+"); the state is the bits below the marker.
  __u32 marker = KNOB(preempt_marker);
  if (marker ? (prev_state & (marker - 1)) == 0 : prev_state == TASK_RUNNING) enqueue(prev_pid);
  ran(next_pid);
  return 0;
}
