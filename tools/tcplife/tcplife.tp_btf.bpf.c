// tcplife on the BTF-typed sock:inet_sock_set_state (tp_btf, 5.5+): the kernel hands over the
// socket, so the addresses, ports and the bytes sent and received are read from it, at offsets
// libbpf relocates against the running kernel's BTF (CO-RE).
#include "tcplife.h"
#include "sock.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate) {
  if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP) return 0;
  struct tcplife_event event = {};
  if (!session_changed((__u64)sk, oldstate, newstate, &event)) return 0;
  event.family = BPF_CORE_READ(sk, __sk_common.skc_family);
  event.lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
  event.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (event.family == AF_INET) {
    BPF_CORE_READ_INTO((__be32 *)event.laddr, sk, __sk_common.skc_rcv_saddr);
    BPF_CORE_READ_INTO((__be32 *)event.raddr, sk, __sk_common.skc_daddr);
  } else {
    BPF_CORE_READ_INTO(&event.laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    BPF_CORE_READ_INTO(&event.raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
  }
  struct tcp_sock *tp = (struct tcp_sock *)sk;
  event.tx_bytes = BPF_CORE_READ(tp, bytes_acked);
  event.rx_bytes = BPF_CORE_READ(tp, bytes_received);
  event.known |= KNOWN_BYTES;
  emit(ctx, &event, sizeof(event));
  return 0;
}
