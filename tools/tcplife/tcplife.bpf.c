// tcplife on the classic sock:inet_sock_set_state tracepoint (4.16+): every field at its offset
// from the event's format file, so no BTF is needed. The tracepoint does not carry the bytes a
// session sent and received: they are read from the socket at the offsets diag calibrated
// (tcplife.h read_calibrated_bytes), else records say they are unknown.
#include "tcplife.h"

DIAG_KNOB(__u32, skaddr_offset, 8)
DIAG_KNOB(__u32, oldstate_offset, 16)
DIAG_KNOB(__u32, newstate_offset, 20)
DIAG_KNOB(__u32, sport_offset, 24)
DIAG_KNOB(__u32, dport_offset, 26)
DIAG_KNOB(__u32, family_offset, 28)
DIAG_KNOB(__u32, protocol_offset, 30)
DIAG_KNOB(__u32, saddr_offset, 32)
DIAG_KNOB(__u32, daddr_offset, 36)
DIAG_KNOB(__u32, saddr_v6_offset, 40)
DIAG_KNOB(__u32, daddr_v6_offset, 56)

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(void *ctx) {
  __u16 protocol = 0;
  READ_FIELD(ctx, KNOB(protocol_offset), protocol);
  if (protocol != IPPROTO_TCP) return 0;
  __u64 sk = 0;
  int oldstate = 0, newstate = 0;
  READ_FIELD(ctx, KNOB(skaddr_offset), sk);
  READ_FIELD(ctx, KNOB(oldstate_offset), oldstate);
  READ_FIELD(ctx, KNOB(newstate_offset), newstate);
  struct tcplife_event event = {};
  if (!session_changed(sk, oldstate, newstate, &event)) return 0;
  READ_FIELD(ctx, KNOB(family_offset), event.family);
  READ_FIELD(ctx, KNOB(sport_offset), event.lport);  // the tracepoint's ports are in host order
  READ_FIELD(ctx, KNOB(dport_offset), event.rport);
  if (event.family == AF_INET) {
    bpf_probe_read(event.laddr, 4, (char *)ctx + KNOB(saddr_offset));
    bpf_probe_read(event.raddr, 4, (char *)ctx + KNOB(daddr_offset));
  } else {
    bpf_probe_read(event.laddr, 16, (char *)ctx + KNOB(saddr_v6_offset));
    bpf_probe_read(event.raddr, 16, (char *)ctx + KNOB(daddr_v6_offset));
  }
  read_calibrated_bytes((char *)sk, &event);
  emit(ctx, &event, sizeof(event));
  return 0;
}
