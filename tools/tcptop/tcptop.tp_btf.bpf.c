// tcptop with BTF: bytes by process and connection, the connection's addresses read from the
// socket at offsets libbpf relocates from the kernel's BTF (CO-RE). Three ways in, one per
// candidate: the BTF-typed sock:sock_send_length/sock_recv_length tracepoints (6.3+), fentry on
// tcp_sendmsg/tcp_cleanup_rbuf (5.5+), or kprobes on them.
#include "tcptop.h"
#include "sock.h"

#include <asm/ptrace.h>  // struct pt_regs
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define SK_READ(dst, sk, field) bpf_probe_read(&(dst), sizeof(dst), __builtin_preserve_access_index(&(sk)->field))

// The key of the current process on this socket; false when it is not IPv4 or IPv6.
static __always_inline int key_of(struct sock *sk, struct tcp_key *key) {
  SK_READ(key->family, sk, __sk_common.skc_family);
  if (key->family == TCPTOP_AF_INET) {
    SK_READ(*(__u32 *)key->saddr, sk, __sk_common.skc_rcv_saddr);
    SK_READ(*(__u32 *)key->daddr, sk, __sk_common.skc_daddr);
  } else if (key->family == TCPTOP_AF_INET6) {
    SK_READ(key->saddr, sk, __sk_common.skc_v6_rcv_saddr);
    SK_READ(key->daddr, sk, __sk_common.skc_v6_daddr);
  } else {
    return 0;
  }
  SK_READ(key->lport, (struct inet_sock *)sk, inet_sport);
  SK_READ(key->dport, sk, __sk_common.skc_dport);
  key_process(key);
  return 1;
}

static __always_inline void count_socket(struct sock *sk, __s64 size, int rx) {
  if (!traced() || size <= 0) return;
  struct tcp_key key = {};
  if (key_of(sk, &key)) add_bytes(&key, size, rx);
}

// The tracepoints fire for every socket: TCP only, and a peek leaves the bytes for the next read.
static __always_inline void count_length(struct sock *sk, int ret, int flags, int rx) {
  __u16 protocol = 0;
  SK_READ(protocol, sk, sk_protocol);
  if (protocol != TCPTOP_IPPROTO_TCP || (flags & TCPTOP_MSG_PEEK)) return;
  count_socket(sk, ret, rx);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(send_length, struct sock *sk, int ret, int flags) {
  count_length(sk, ret, flags, 0);
  return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(recv_length, struct sock *sk, int ret, int flags) {
  count_length(sk, ret, flags, 1);
  return 0;
}

// int tcp_sendmsg(struct sock *sk, struct msghdr *msg, size_t size): the bytes asked to send.
SEC("fentry/tcp_sendmsg")
int BPF_PROG(sendmsg_fentry, struct sock *sk, void *msg, __u64 size) {
  count_socket(sk, size, 0);
  return 0;
}

// void tcp_cleanup_rbuf(struct sock *sk, int copied): bytes a read took from the socket.
SEC("fentry/tcp_cleanup_rbuf")
int BPF_PROG(cleanup_rbuf_fentry, struct sock *sk, int copied) {
  count_socket(sk, copied, 1);
  return 0;
}

SEC("kprobe/tcp_sendmsg")
int sendmsg_kprobe(struct pt_regs *ctx) {
  count_socket((struct sock *)PT_REGS_PARM1(ctx), PT_REGS_PARM3(ctx), 0);
  return 0;
}

SEC("kprobe/tcp_cleanup_rbuf")
int cleanup_rbuf_kprobe(struct pt_regs *ctx) {
  count_socket((struct sock *)PT_REGS_PARM1(ctx), (int)PT_REGS_PARM2(ctx), 1);
  return 0;
}
