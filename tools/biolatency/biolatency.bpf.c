// biolatency: block I/O latency from issue (or, with --queued, from the request's creation) to
// completion, as a log2 histogram, joined on (device, sector) from the block tracepoints.
#include "diag.h"

// Field offsets from events/block/<event>/format; dev is a u32 dev_t, sector a u64.
DIAG_KNOB(__u32, start_dev_offset, 8)
DIAG_KNOB(__u32, start_sector_offset, 16)
DIAG_KNOB(__u32, done_dev_offset, 8)
DIAG_KNOB(__u32, done_sector_offset, 16)
DIAG_KNOB(__u8, per_disk, 0)
DIAG_KNOB(__u64, unit_ns, 1000)  // 1000 for usecs, 1000000 for msecs

struct request_key {
  __u32 dev;
  __u32 pad;
  __u64 sector;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, struct request_key);
  __type(value, __u64);
} start SEC(".maps");

DIAG_HISTOGRAM_MAP(4096);  // disks x slots

// Attached by diag to the start event it chose (block_rq_issue, block_io_start or block_rq_insert):
// all three carry dev and sector, at the offsets passed in above.
SEC("tracepoint/block/block_rq_issue")
int rq_start(void *ctx) {
  struct request_key key = {};
  READ_FIELD(ctx, KNOB(start_dev_offset), key.dev);
  READ_FIELD(ctx, KNOB(start_sector_offset), key.sector);
  __u64 now = bpf_ktime_get_ns();
  if (bpf_map_update_elem(&start, &key, &now, BPF_ANY)) count_lost();
  return 0;
}

SEC("tracepoint/block/block_rq_complete")
int rq_complete(void *ctx) {
  struct request_key key = {};
  READ_FIELD(ctx, KNOB(done_dev_offset), key.dev);
  READ_FIELD(ctx, KNOB(done_sector_offset), key.sector);
  __u64 *started = bpf_map_lookup_elem(&start, &key);
  if (!started) return 0;  // issued before tracing began
  __u64 delta = bpf_ktime_get_ns() - *started;
  bpf_map_delete_elem(&start, &key);
  struct hist_key slot = {.label = KNOB(per_disk) ? key.dev : 0, .slot = log2_slot(delta / KNOB(unit_ns))};
  increment(&hist, &slot);
  return 0;
}
