// tcprtt on tcp_rcv_established itself (fentry, else kprobe): the socket's srtt_us read with CO-RE
// against the running kernel's BTF, where tcp:tcp_probe is missing (before 4.16) or a function
// probe is preferred. The kernel keeps srtt_us as 8 times the smoothed RTT in µs.
#include "tcprtt.h"
#include "sock.h"

#include <asm/ptrace.h>  // struct pt_regs, for BPF_KPROBE
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

static __always_inline void received(struct sock *sk) {
  __u16 local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  __u16 remote_port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (!wanted(local_port, remote_port)) return;
  struct rtt_key key = {};
  if (KNOB(per_host)) {
    key.family = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (key.family == DIAG_AF_INET) bpf_core_read(key.addr, 4, &sk->__sk_common.skc_daddr);
    else if (key.family == DIAG_AF_INET6) bpf_core_read(key.addr, 16, &sk->__sk_common.skc_v6_daddr);
  }
  count_rtt(&key, BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3);
}

SEC("fentry/tcp_rcv_established")
int BPF_PROG(fentry_rcv_established, struct sock *sk) {
  received(sk);
  return 0;
}

SEC("kprobe/tcp_rcv_established")
int BPF_KPROBE(kprobe_rcv_established, struct sock *sk) {
  received(sk);
  return 0;
}
