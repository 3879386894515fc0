// runqlat: how long runnable tasks wait for a CPU, from wakeup (or preemption) to running, as a
// log2 histogram, from the sched tracepoints.
#include "diag.h"

const volatile __u32 wakeup_pid_offset = 24;  // "pid_t pid" in sched_wakeup and sched_wakeup_new
const volatile __u32 prev_pid_offset = 24;    // sched_switch fields
const volatile __u32 prev_state_offset = 32;
const volatile __u32 next_pid_offset = 56;
const volatile __u64 unit_ns = 1000;

#define TASK_RUNNING 0

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, __u64);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, struct hist_key);
  __type(value, __u64);
} hist SEC(".maps");

static __always_inline void enqueue(__u32 pid) {
  if (!pid) return;
  __u64 now = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&start, &pid, &now, BPF_ANY)) count_lost();
}

static __always_inline int woken(void *ctx) {
  __u32 pid = 0;
  READ_FIELD(ctx, wakeup_pid_offset, pid);
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
  READ_FIELD(ctx, prev_pid_offset, prev_pid);
  READ_FIELD(ctx, prev_state_offset, prev_state);
  READ_FIELD(ctx, next_pid_offset, next_pid);
  if (prev_state == TASK_RUNNING) enqueue(prev_pid);  // preempted: back on the run queue
  __u64 *queued = bpf_map_lookup_elem(&start, &next_pid);
  if (!queued) return 0;
  __u64 delta = bpf_ktime_get_ns() - *queued;
  bpf_map_delete_elem(&start, &next_pid);
  struct hist_key slot = {.label = 0, .slot = log2_slot(delta / unit_ns)};
  increment(&hist, &slot);
  return 0;
}
