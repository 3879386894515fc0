// tcprtt from a kprobe on tcp_rcv_established(sk, skb) for kernels with neither BTF nor
// tcp:tcp_probe (before 4.16): the ports and remote address read at sock_common's fixed offsets
// (sock-common.h), and srtt_us at the offset diag calibrated on this very kernel against its own
// TCP_INFO (src/net/tcp-offsets.ts). The kernel keeps srtt_us as 8 times the smoothed RTT in µs.
#include "tcprtt.h"
#include "sock-common.h"

#include <asm/ptrace.h>  // struct pt_regs, as user space names its registers
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

DIAG_KNOB(__u32, srtt_us_offset, 0)   // calibrated: tcp_sock.srtt_us
DIAG_KNOB(__u32, v6_daddr_offset, 56)  // sock_common.skc_v6_daddr, by CONFIG_NET_NS

SEC("kprobe/tcp_rcv_established")
int kprobe_rcv_established(struct pt_regs *ctx) {
  char *sk = (char *)PT_REGS_PARM1(ctx);
  __u16 local_port = 0, remote_port = 0;
  bpf_probe_read(&local_port, sizeof(local_port), sk + SKC_NUM);
  bpf_probe_read(&remote_port, sizeof(remote_port), sk + SKC_DPORT);
  if (!wanted(local_port, bpf_ntohs(remote_port))) return 0;
  struct rtt_key key = {};
  if (KNOB(per_host)) {
    bpf_probe_read(&key.family, sizeof(key.family), sk + SKC_FAMILY);
    if (key.family == DIAG_AF_INET) bpf_probe_read(key.addr, 4, sk + SKC_DADDR);
    else if (key.family == DIAG_AF_INET6) bpf_probe_read(key.addr, 16, sk + KNOB(v6_daddr_offset));
  }
  __u32 srtt_us = 0;
  bpf_probe_read(&srtt_us, sizeof(srtt_us), sk + KNOB(srtt_us_offset));
  count_rtt(&key, srtt_us >> 3);
  return 0;
}
