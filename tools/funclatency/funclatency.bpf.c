// funclatency: a log2 histogram of each kernel function's call durations, labelled by the
// function's slot. The calls are timed per slot by function-timing.h, as funcprofile's are.
#include "function-timing.h"

DIAG_KNOB(__u64, unit_ns, 1)

// Every slot's function, each with up to 64 log2 buckets.
DIAG_HISTOGRAM_MAP(DIAG_SLOTS * 64);

static __always_inline void record_call(__u32 slot, __u64 ns) {
  struct hist_key key = {.label = slot, .slot = log2_slot(ns / KNOB(unit_ns))};
  increment(&hist, &key);
}

DIAG_EACH_SLOT(DIAG_TIMING_PROGRAMS)
