// The kernel's socket structures as the BTF tools read them (tcplife, tcptop, tcprtt, tcpdrop on
// tp_btf, fentry or kprobes with BTF): only the fields some tool reads, by name, flat. libbpf
// relocates each read against the running kernel's BTF (CO-RE) and finds the fields inside the
// kernel's anonymous unions; a field declared here that an object does not read costs nothing.
#ifndef DIAG_SOCK_H
#define DIAG_SOCK_H

#include <linux/types.h>

struct in6_addr {
  union {
    __u8 u6_addr8[16];
  } in6_u;
} __attribute__((preserve_access_index));

struct sock_common {
  __be32 skc_daddr;
  __be32 skc_rcv_saddr;
  __be16 skc_dport;  // network order
  __u16 skc_num;     // the local port, host order; zeroed once the port is given back (inet_put_port)
  unsigned short skc_family;
  unsigned char skc_state;
  struct in6_addr skc_v6_daddr;
  struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
  struct sock_common __sk_common;
  // A u16 since 5.6, a bitfield before: read it with BPF_CORE_READ_BITFIELD_PROBED where older
  // kernels matter (tp_btf on 5.5).
  __u16 sk_protocol;
} __attribute__((preserve_access_index));

// The local port as connect or bind set it, network order. Not skc_num: a closed socket, or one
// gone to TIME_WAIT, is unhashed and its skc_num zeroed, while inet_sport stays.
struct inet_sock {
  __be16 inet_sport;
} __attribute__((preserve_access_index));

struct tcp_sock {
  __u32 srtt_us;          // 8 times the smoothed RTT, in µs
  __u64 bytes_received;
  __u64 bytes_acked;
} __attribute__((preserve_access_index));

#endif
