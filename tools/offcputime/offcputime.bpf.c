// offcputime: time blocked by stack, from the classic sched_switch tracepoint: the switched-out
// task is the current one (its pid, comm and stacks are current's), the switched-in task's pid is
// read at its offset from the format file, so no BTF is needed.
#include "offcputime.h"

DIAG_KNOB(__u32, next_pid_offset, 56)  // "pid_t next_pid" in sched_switch
// --state: only switch-outs in one of the states whose bits diag read from the format's letters.
DIAG_KNOB(__u8, filter_state, 0)
DIAG_KNOB(__u32, prev_state_offset, 32)  // "long prev_state"
DIAG_KNOB(__u32, preempt_marker, 0)      // the "+" bit: the state is the bits below it; 0: none
DIAG_KNOB(__u64, state_mask, 0)
DIAG_KNOB(__u8, state_running, 0)        // "R": no state bit set (preempted)

static __always_inline int state_wanted(void *ctx) {
  if (!KNOB(filter_state)) return 1;
  long prev_state = 0;
  READ_FIELD(ctx, KNOB(prev_state_offset), prev_state);
  __u64 marker = KNOB(preempt_marker);
  __u64 bits = marker ? (prev_state & (marker - 1)) : prev_state;
  return (bits & KNOB(state_mask)) != 0 || (KNOB(state_running) && bits == 0);
}

SEC("tracepoint/sched/sched_switch")
int sched_switch(void *ctx) {
  __u32 next_pid = 0;
  READ_FIELD(ctx, KNOB(next_pid_offset), next_pid);
  if (state_wanted(ctx)) {
    switched_out(ctx);
  } else {
    // Not a block to count; nor is any left from a switch in the kernel did not record.
    __u32 pid = (__u32)bpf_get_current_pid_tgid();
    bpf_map_delete_elem(&start, &pid);
  }
  switched_in(next_pid);
  return 0;
}
