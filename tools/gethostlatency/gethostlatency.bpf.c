// gethostlatency: a uprobe on each lookup function of the libc keeps the start time and the host
// name by thread; the uretprobe sends one record per lookup through the event buffer (bpf/diag.h:
// a ring buffer in gethostlatency.bpf.o, a perf buffer in gethostlatency.no-global-data.bpf.o).
#include "diag.h"
#include <asm/ptrace.h>  // struct pt_regs, as user space names its registers
#include <bpf/bpf_tracing.h>
#include "gethostlatency.h"

DIAG_EVENTS(DIAG_ROW_EVENTS_BYTES)

struct lookup_start {
  __u64 ns;
  char host[HOST_LEN];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, struct lookup_start);
} starts SEC(".maps");

// The host string, NUL-terminated. bpf_probe_read_str came in 4.11; the perf-buffer build also
// loads on 4.x before it, where a fixed-size read fails whole when the string ends near the end
// of its page: shorter reads are tried then.
static __always_inline void read_host(char *host, const void *name) {
#ifdef DIAG_KNOBS_IN_MAPS
  if (bpf_probe_read(host, HOST_LEN - 1, name) == 0) return;
  if (bpf_probe_read(host, 32, name) == 0) return;
  bpf_probe_read(host, 16, name);
#else
  bpf_probe_read_str(host, HOST_LEN, name);
#endif
}

SEC("uprobe")
int lookup_entry(struct pt_regs *ctx) {
  if (!traced()) return 0;
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  struct lookup_start start = {};
  start.ns = bpf_ktime_get_ns();
  read_host(start.host, (const void *)PT_REGS_PARM1(ctx));
  if (bpf_map_update_elem(&starts, &tid, &start, BPF_ANY) != 0) count_lost();
  return 0;
}

SEC("uretprobe")
int lookup_return(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)pid_tgid;
  struct lookup_start *start = bpf_map_lookup_elem(&starts, &tid);
  if (!start) return 0;
  struct lookup_event event = {};
  event.end_ns = bpf_ktime_get_ns();
  event.latency_ns = event.end_ns - start->ns;
  event.pid = pid_tgid >> 32;
  event.tid = tid;
  bpf_get_current_comm(event.comm, sizeof(event.comm));
  bpf_probe_read(event.host, sizeof(event.host), start->host);
  bpf_map_delete_elem(&starts, &tid);
  emit(ctx, &event, sizeof(event));
  return 0;
}
