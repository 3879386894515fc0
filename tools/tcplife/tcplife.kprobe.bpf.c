// tcplife from a kprobe on tcp_set_state(sk, state), for kernels before sock:inet_sock_set_state
// (4.16) and without BTF: the socket's addresses, ports, family and current state are read at
// offsets of struct sock_common (sock-common.h). The bytes sent and received are in tcp_sock, whose
// layout moves with the version and config: read at the offsets diag calibrated on this kernel
// (tcplife.h read_calibrated_bytes), else unknown.
#include "tcplife.h"
#include "sock-common.h"

#include <asm/ptrace.h>  // struct pt_regs, as user space names its registers
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

DIAG_KNOB(__u32, v6_daddr_offset, 56)
DIAG_KNOB(__u32, v6_rcv_saddr_offset, 72)

SEC("kprobe/tcp_set_state")
int tcp_set_state_entry(struct pt_regs *ctx) {
  char *sk = (char *)PT_REGS_PARM1(ctx);
  int newstate = (int)PT_REGS_PARM2(ctx);
  __u8 oldstate = 0;  // at the entry, the state it leaves
  bpf_probe_read(&oldstate, sizeof(oldstate), sk + SKC_STATE);
  struct tcplife_event event = {};
  if (!session_changed((__u64)sk, oldstate, newstate, &event)) return 0;
  __u16 dport = 0;
  bpf_probe_read(&event.family, sizeof(event.family), sk + SKC_FAMILY);
  bpf_probe_read(&event.lport, sizeof(event.lport), sk + SKC_NUM);  // still bound at the entry
  bpf_probe_read(&dport, sizeof(dport), sk + SKC_DPORT);
  event.rport = bpf_ntohs(dport);
  if (event.family == AF_INET) {
    bpf_probe_read(event.laddr, 4, sk + SKC_RCV_SADDR);
    bpf_probe_read(event.raddr, 4, sk + SKC_DADDR);
  } else {
    bpf_probe_read(event.laddr, 16, sk + KNOB(v6_rcv_saddr_offset));
    bpf_probe_read(event.raddr, 16, sk + KNOB(v6_daddr_offset));
  }
  read_calibrated_bytes(sk, &event);
  emit(ctx, &event, sizeof(event));
  return 0;
}
