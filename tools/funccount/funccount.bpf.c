// funccount: calls of kernel functions, counted per function. Function i of the pattern's
// matches is counted in slot i: through one kprobe_multi link (the slot is its attach cookie),
// or through one of SLOTS fentry or kprobe programs, each with its own slot.
#include "diag.h"


struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, DIAG_SLOTS);  // diag resizes it for kprobe_multi
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

// Each slot has an fentry and a kprobe program counting into it (see DIAG_EACH_SLOT in diag.h).
#define PROGRAMS(name, slot)                                                \
  SEC("fentry") int count_fentry_##name(void *ctx) { return count_slot(slot); } \
  SEC("kprobe") int count_kprobe_##name(void *ctx) { return count_slot(slot); }

DIAG_EACH_SLOT(PROGRAMS)
