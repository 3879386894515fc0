// A source of events with a known count, for the event buffer's tests and bench/events.mjs: one
// record per getppid() of one process (test/workload/diag-workload getppid N), written with
// emit() (bpf/diag.h DIAG_EVENTS), so that what arrives plus what is lost must equal N.
#include "diag.h"

#include "getppid-events.h"

DIAG_KNOB(__u32, target_tgid, 0)
DIAG_KNOB(__u32, getppid_nr, 110)  // x86_64; user space sets the number of its architecture
DIAG_KNOB(__u32, id_offset, 8)     // "long id" in raw_syscalls/sys_enter's format

// 1 MiB: 65,536 records, a third of a second at 200,000 a second, for a consumer on a busy VM.
DIAG_EVENTS(1024 * 1024)

SEC("tracepoint/raw_syscalls/sys_enter")
int on_sys_enter(void *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if ((__u32)(pid_tgid >> 32) != KNOB(target_tgid)) return 0;
  long id = 0;
  READ_FIELD(ctx, KNOB(id_offset), id);
  if (id != KNOB(getppid_nr)) return 0;
  struct getppid_event event = {.time_ns = bpf_ktime_get_ns(), .tid = (__u32)pid_tgid};
  emit(ctx, &event, sizeof(event));
  return 0;
}
