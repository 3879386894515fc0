// tcpdrop on the classic skb:kfree_skb tracepoint, for kernels without BTF (4.7+): its fields are
// read at offsets from the format file. Without BTF the skb's layout is unknown, so the headers
// are not read: every IPv4 and IPv6 drop makes a record, with its kernel stack, and diag keeps
// those whose stack passes through TCP (bpf.ts). Where the kernel has tcp_drop() (4.10 to 5.x,
// whose drops never reach the tracepoint before 5.17), a kprobe on it records each call: TCP's
// by definition, its L3 protocol unknown (0) without the skb's layout.
#include "tcpdrop.h"

DIAG_KNOB(__u32, protocol_offset, 24)   // "unsigned short protocol"
DIAG_KNOB(__u32, reason_offset, 0)      // "enum skb_drop_reason reason"; 0 where there is none

static __always_inline void record_drop(void *ctx, __u16 protocol, __u32 reason) {
  if (!traced()) return;
  struct drop_event e = {};
  e.protocol = protocol;
  e.reason = reason;
  send_drop(ctx, &e);
}

SEC("tracepoint/skb/kfree_skb")
int kfree_skb(void *ctx) {
  __u16 protocol = 0;
  READ_FIELD(ctx, KNOB(protocol_offset), protocol);
  if (protocol != L3_IPV4 && protocol != L3_IPV6) return 0;
  __u32 reason = NO_REASON;
  if (KNOB(reason_offset)) {
    READ_FIELD(ctx, KNOB(reason_offset), reason);
    if (normal_free(reason)) return 0;
  }
  record_drop(ctx, protocol, reason);
  return 0;
}

SEC("kprobe/tcp_drop")
int tcp_drop(void *ctx) {
  record_drop(ctx, 0, NO_REASON);
  return 0;
}
