// funccount: calls of kernel functions, counted per function. Function i of the pattern's
// matches is counted in slot i: through one kprobe_multi link (the slot is its attach cookie),
// or through one of SLOTS fentry or kprobe programs, each with its own slot.
#include "diag.h"

#define SLOTS 64

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SLOTS);  // diag resizes it for kprobe_multi
  __type(key, __u32);
  __type(value, __u64);
} slots SEC(".maps");

static __always_inline int count_slot(__u32 slot) {
  if (!traced()) return 0;
  __u64 *n = bpf_map_lookup_elem(&slots, &slot);
  if (n) __sync_fetch_and_add(n, 1);
  return 0;
}

SEC("kprobe.multi")
int count_multi(void *ctx) { return count_slot(bpf_get_attach_cookie(ctx)); }

// Programs for slot r*8+c are named count_<type>_<r>_<c> (diag computes the names likewise).
#define PROGRAMS(name, slot)                                                \
  SEC("fentry") int count_fentry_##name(void *ctx) { return count_slot(slot); } \
  SEC("kprobe") int count_kprobe_##name(void *ctx) { return count_slot(slot); }

#define ROW(r)                                                                   \
  PROGRAMS(r##_0, r * 8 + 0) PROGRAMS(r##_1, r * 8 + 1) PROGRAMS(r##_2, r * 8 + 2) \
  PROGRAMS(r##_3, r * 8 + 3) PROGRAMS(r##_4, r * 8 + 4) PROGRAMS(r##_5, r * 8 + 5) \
  PROGRAMS(r##_6, r * 8 + 6) PROGRAMS(r##_7, r * 8 + 7)

ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
