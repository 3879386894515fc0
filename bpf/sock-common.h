// The head of struct sock_common at fixed offsets, for the kprobe objects that run without BTF
// (tcplife, tcprtt): the addresses, ports, family and state come first and have not moved since
// 4.2 (include/net/sock.h; checked against 6.18's BTF, where it is the same). The IPv6 addresses
// come after a pointer-sized skc_net that only CONFIG_NET_NS has, so diag sets their offsets as
// knobs by whether the kernel has network namespaces (tools/tcplife/bpf.ts ipv6Offsets).
#ifndef DIAG_SOCK_COMMON_H
#define DIAG_SOCK_COMMON_H

#define SKC_DADDR 0
#define SKC_RCV_SADDR 4
#define SKC_DPORT 12  // network order
#define SKC_NUM 14    // the local port, host order
#define SKC_FAMILY 16
#define SKC_STATE 18

#endif
