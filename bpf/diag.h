// What every diag BPF program shares: its knobs, the process filter, the count of events lost to
// full maps, and the log2 slot of a value.
#ifndef DIAG_BPF_H
#define DIAG_BPF_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// Reads a tracepoint field at an offset diag took from the event's format file, so the program
// needs no BTF and runs on any kernel with BPF tracepoints (4.7+).
#define READ_FIELD(ctx, offset, var) bpf_probe_read(&(var), sizeof(var), (char *)(ctx) + (offset))

// Knobs are settings diag writes before tracing starts: DIAG_KNOB(type, name, default) declares
// one, KNOB(name) reads it. Built normally, a knob is a `const volatile` global in .rodata, which
// the verifier treats as a constant and prunes the code it switches off; that needs global data
// (kernel 5.2). Built with -DDIAG_KNOBS_IN_MAPS (bpf/Makefile's <tool>.no-global-data.bpf.o, for
// older kernels) a knob is the one entry of its own array map knob_<name>, which diag fills after
// load (backends/bpf/bpf-tool.ts), and each read is a map lookup; a knob diag did not set reads 0.
#ifdef DIAG_KNOBS_IN_MAPS
#define DIAG_KNOB(T, name, initial)                      \
  struct {                                               \
    __uint(type, BPF_MAP_TYPE_ARRAY);                    \
    __uint(max_entries, 1);                              \
    __type(key, __u32);                                  \
    __type(value, T);                                    \
  } knob_##name SEC(".maps");                            \
  static __always_inline T knob_value_##name(void) {      \
    __u32 zero = 0;                                      \
    T *v = bpf_map_lookup_elem(&knob_##name, &zero);      \
    return v ? *v : 0;                                   \
  }
#define KNOB(name) knob_value_##name()
#else
#define DIAG_KNOB(T, name, initial) const volatile T name = initial;
#define KNOB(name) (name)
#endif

// With filter_tgid set, only the processes in traced_tgids are traced: diag puts the one it was
// asked for there (--pid, or the command it runs), and follow_fork adds each child they fork.
DIAG_KNOB(__u8, filter_tgid, 0)
DIAG_KNOB(__u32, fork_child_pid_offset, 44)  // "pid_t child_pid" in sched_process_fork

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} lost SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, __u32);
  __type(value, __u8);
} traced_tgids SEC(".maps");

static __always_inline int traced(void) {
  if (!KNOB(filter_tgid)) return 1;
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  return bpf_map_lookup_elem(&traced_tgids, &tgid) != 0;
}

// Runs in the forking task: a traced parent makes its child traced. For a new thread the child
// pid is a thread id of an already traced process, which does no harm.
SEC("tracepoint/sched/sched_process_fork")
int follow_fork(void *ctx) {
  if (!traced()) return 0;
  __u32 child = 0;
  __u8 yes = 1;
  READ_FIELD(ctx, KNOB(fork_child_pid_offset), child);
  bpf_map_update_elem(&traced_tgids, &child, &yes, BPF_ANY);
  return 0;
}

static __always_inline void count_lost(void) {
  __u32 zero = 0;
  __u64 *n = bpf_map_lookup_elem(&lost, &zero);
  if (n) *n += 1;  // per-CPU: no other CPU writes this slot
}

// DIAG_EVENTS(bytes) declares the map `events` that a streaming tool writes its records to, and
// emit(ctx, record, size) to write one; backends/bpf/event-buffer.ts reads it. In <tool>.bpf.o it
// is a ring buffer (BPF_MAP_TYPE_RINGBUF, 5.8+) of `bytes`; in <tool>.no-global-data.bpf.o a perf
// buffer (BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4.3+, one buffer per CPU sized by user space). Two builds
// rather than both maps in one object and a switch: libbpf 1.1 creates every map an object
// declares (a ring buffer map fails before 5.8), and a 4.x verifier refuses a call to the ring
// buffer helpers even on a path never taken. Kernels without global data (before 5.2) never have
// a ring buffer, and the perf build loads on any kernel, so diag opens it wherever there is no
// ring buffer (backends/bpf/bpf-tool.ts objectVariant).
// A record that finds no room: a ring buffer's emit() counts it in `lost` (count_lost). A perf
// buffer's cannot always tell (bpf_perf_event_output returns 0 on a full buffer before 5.4, and the
// kernel's PERF_RECORD_LOST comes only with the next record that fits, maybe never): its emit()
// counts every record it sends in events_sent, and user space counts lost = sent - received once
// it has drained the buffer (backends/bpf/event-buffer.ts).
// The ring buffer of the tools that send a record per row (tcplife, tcpdrop, gethostlatency), one
// per run (not per CPU), locked kernel memory: 4 MiB, chosen by bench/row-buffer.mjs (README: 256 KiB
// and 1 MiB lost tcplife records when diag's consumer ran niced under a connection-rate load, 4 MiB
// none), which builds its candidates with -DDIAG_ROW_EVENTS_BYTES=... .
#ifndef DIAG_ROW_EVENTS_BYTES
#define DIAG_ROW_EVENTS_BYTES (4 * 1024 * 1024)
#endif
#ifdef DIAG_KNOBS_IN_MAPS
#define DIAG_EVENTS(bytes)                                                   \
  struct {                                                                   \
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);                             \
    __uint(key_size, sizeof(__u32));                                         \
    __uint(value_size, sizeof(__u32));                                       \
  } events SEC(".maps");                                                     \
  struct {                                                                   \
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                 \
    __uint(max_entries, 1);                                                  \
    __type(key, __u32);                                                      \
    __type(value, __u64);                                                    \
  } events_sent SEC(".maps");                                                \
  static __always_inline void emit(void *ctx, void *record, __u64 size) {    \
    __u32 zero = 0;                                                          \
    __u64 *sent = bpf_map_lookup_elem(&events_sent, &zero);                  \
    if (sent) *sent += 1; /* per-CPU: no other CPU writes this slot */       \
    bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, record, size);    \
  }
#else
#define DIAG_EVENTS(bytes)                                                   \
  struct {                                                                   \
    __uint(type, BPF_MAP_TYPE_RINGBUF);                                      \
    __uint(max_entries, bytes);                                              \
  } events SEC(".maps");                                                     \
  static __always_inline void emit(void *ctx, void *record, __u64 size) {    \
    if (bpf_ringbuf_output(&events, record, size, 0) < 0) count_lost();      \
  }
#endif

// Adds one to map[key], creating it; a full map counts as a lost event instead of silence.
static __always_inline void increment(void *map, const void *key) {
  __u64 *value = bpf_map_lookup_elem(map, key);
  if (value) {
    __sync_fetch_and_add(value, 1);
    return;
  }
  __u64 one = 1;
  if (bpf_map_update_elem(map, key, &one, BPF_NOEXIST) == 0) return;
  value = bpf_map_lookup_elem(map, key);  // another CPU created it first
  if (value) {
    __sync_fetch_and_add(value, 1);
    return;
  }
  count_lost();
}

// floor(log2(v)), with 0 and 1 both in slot 0: the slots src/result/normalize.ts expects.
static __always_inline __u32 log2_slot(__u64 v) {
  __u32 slot = 0;
  if (v >> 32) { v >>= 32; slot += 32; }
  if (v >> 16) { v >>= 16; slot += 16; }
  if (v >> 8) { v >>= 8; slot += 8; }
  if (v >> 4) { v >>= 4; slot += 4; }
  if (v >> 2) { v >>= 2; slot += 2; }
  if (v >> 1) slot += 1;
  return slot;
}

// Histogram slots keyed by a label (a disk, or 0) and the log2 slot.
struct hist_key {
  __u32 label;
  __u32 slot;
};

// The map a histogram tool counts into: backends/bpf/histogram.ts reads it by this name.
#define DIAG_HISTOGRAM_MAP(entries)          \
  struct {                                   \
    __uint(type, BPF_MAP_TYPE_HASH);         \
    __uint(max_entries, entries);            \
    __type(key, struct hist_key);            \
    __type(value, __u64);                    \
  } hist SEC(".maps")

// Programs by slot, where one program per attach target is needed (fentry, kprobe): P(name, slot)
// is expanded for slots 0..63, named <r>_<c> for slot r*8+c (backends/bpf/bpf-tool.ts: slotName).
#define DIAG_SLOTS 64
#define DIAG_ROW(P, r)                                                   \
  P(r##_0, r * 8 + 0) P(r##_1, r * 8 + 1) P(r##_2, r * 8 + 2) P(r##_3, r * 8 + 3) \
  P(r##_4, r * 8 + 4) P(r##_5, r * 8 + 5) P(r##_6, r * 8 + 6) P(r##_7, r * 8 + 7)
#define DIAG_EACH_SLOT(P) \
  DIAG_ROW(P, 0) DIAG_ROW(P, 1) DIAG_ROW(P, 2) DIAG_ROW(P, 3) DIAG_ROW(P, 4) DIAG_ROW(P, 5) DIAG_ROW(P, 6) DIAG_ROW(P, 7)

#endif
