// tcprtt: the smoothed RTT of every segment an established TCP socket receives, as a log2
// histogram, from the tcp:tcp_probe tracepoint (4.16+), which tcp_rcv_established fires first
// thing. Fields at offsets read from its format file, so no BTF is needed.
#include "tcprtt.h"

DIAG_KNOB(__u32, daddr_offset, 36)  // "__u8 daddr[28]": a sockaddr_in or sockaddr_in6
DIAG_KNOB(__u32, sport_offset, 64)  // "__u16 sport", host order
DIAG_KNOB(__u32, dport_offset, 66)  // "__u16 dport", host order
DIAG_KNOB(__u32, srtt_offset, 100)  // "__u32 srtt": srtt_us >> 3, in µs

SEC("tracepoint/tcp/tcp_probe")
int tcp_probe(void *ctx) {
  __u16 sport = 0, dport = 0;
  READ_FIELD(ctx, KNOB(sport_offset), sport);
  READ_FIELD(ctx, KNOB(dport_offset), dport);
  if (!wanted(sport, dport)) return 0;
  __u32 srtt = 0;
  READ_FIELD(ctx, KNOB(srtt_offset), srtt);
  struct rtt_key key = {};
  if (KNOB(per_host)) {
    // sa_family leads both sockaddrs; the address follows the port (IPv4) or the flow info (IPv6).
    char *daddr = (char *)ctx + KNOB(daddr_offset);
    bpf_probe_read(&key.family, sizeof(key.family), daddr);
    if (key.family == DIAG_AF_INET) bpf_probe_read(key.addr, 4, daddr + 4);
    else if (key.family == DIAG_AF_INET6) bpf_probe_read(key.addr, 16, daddr + 8);
  }
  count_rtt(&key, srtt);
  return 0;
}
