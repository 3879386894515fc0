// What both tcprtt objects share: the log2 histogram of smoothed RTTs (µs, as the kernel keeps
// them) by remote address, and the port filter. tcprtt.bpf.c feeds it from the tcp:tcp_probe
// tracepoint (no BTF needed), tcprtt.btf.bpf.c from tcp_rcv_established (fentry or kprobe, CO-RE).
#ifndef DIAG_TCPRTT_H
#define DIAG_TCPRTT_H

#include "diag.h"

DIAG_KNOB(__u32, lport, 0)     // only sockets with this local port; 0: any
DIAG_KNOB(__u32, rport, 0)     // only sockets with this remote port; 0: any
DIAG_KNOB(__u8, per_host, 0)   // one histogram per remote address, else one for all
DIAG_KNOB(__u32, unit_us, 1)   // 1 for usecs, 1000 for msecs

#define DIAG_AF_INET 2
#define DIAG_AF_INET6 10

// tools/tcprtt/bpf.ts reads this layout.
struct rtt_key {
  __u8 addr[16];  // the remote address in network order; IPv4 in the first 4 bytes
  __u16 family;   // AF_INET, AF_INET6, or 0 for the histogram of all
  __u16 pad;
  __u32 slot;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);  // hosts x slots
  __type(key, struct rtt_key);
  __type(value, __u64);
} rtt SEC(".maps");

static __always_inline int wanted(__u16 local_port, __u16 remote_port) {
  __u32 want_local = KNOB(lport), want_remote = KNOB(rport);
  return (!want_local || want_local == local_port) && (!want_remote || want_remote == remote_port);
}

// One sample: the socket's smoothed RTT in µs (srtt_us >> 3) when the segment arrived.
static __always_inline void count_rtt(struct rtt_key *key, __u32 srtt_us) {
  __u32 unit = KNOB(unit_us);
  key->slot = log2_slot(srtt_us / (unit ? unit : 1));
  increment(&rtt, key);
}

#endif
