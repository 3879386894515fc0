// tcptop without BTF: bytes by process from the classic sock:sock_send_length and
// sock_recv_length tracepoints (6.3+; fields at the offsets their format files give), or from a
// kprobe on tcp_sendmsg (its size argument) and a kretprobe on tcp_recvmsg (bytes read).
// Neither gives the connection's addresses without reading struct sock, whose layout only BTF
// tells: the rows carry no addresses (family 0).
#include "tcptop.h"

#include <asm/ptrace.h>  // struct pt_regs
#include <bpf/bpf_tracing.h>

DIAG_KNOB(__u32, family_offset, 16)    // "__u16 family" in sock/sock_send_length/format
DIAG_KNOB(__u32, protocol_offset, 18)  // "__u16 protocol"
DIAG_KNOB(__u32, ret_offset, 20)       // "int ret"
DIAG_KNOB(__u32, flags_offset, 24)     // "int flags"

// One sock_*_length record: a TCP socket's bytes, not a peek (which leaves them for the next read).
static __always_inline void count_record(void *ctx, int rx) {
  if (!traced()) return;
  __u16 family = 0, protocol = 0;
  int ret = 0, flags = 0;
  READ_FIELD(ctx, KNOB(protocol_offset), protocol);
  READ_FIELD(ctx, KNOB(family_offset), family);
  if (protocol != TCPTOP_IPPROTO_TCP || (family != TCPTOP_AF_INET && family != TCPTOP_AF_INET6)) return;
  READ_FIELD(ctx, KNOB(ret_offset), ret);
  READ_FIELD(ctx, KNOB(flags_offset), flags);
  if (ret <= 0 || (flags & TCPTOP_MSG_PEEK)) return;
  struct tcp_key key = {};
  key_process(&key);
  add_bytes(&key, ret, rx);
}

SEC("tracepoint/sock/sock_send_length")
int send_length(void *ctx) {
  count_record(ctx, 0);
  return 0;
}

SEC("tracepoint/sock/sock_recv_length")
int recv_length(void *ctx) {
  count_record(ctx, 1);
  return 0;
}

static __always_inline void count_call(__u64 size, int rx) {
  if (!traced() || (__s64)size <= 0) return;
  struct tcp_key key = {};
  key_process(&key);
  add_bytes(&key, size, rx);
}

// int tcp_sendmsg(struct sock *sk, struct msghdr *msg, size_t size): the bytes asked to send.
SEC("kprobe/tcp_sendmsg")
int sendmsg_kprobe(struct pt_regs *ctx) {
  count_call(PT_REGS_PARM3(ctx), 0);
  return 0;
}

// int tcp_recvmsg(...): the bytes one read took from the socket, as it returns. Not
// tcp_cleanup_rbuf's copied: before 5.17, tcp_recvmsg also calls it in the middle of a read (to
// process the backlog) with the bytes copied so far, then at the end with all of them (the lab's
// 4.9 counted 40% more).
SEC("kretprobe/tcp_recvmsg")
int recvmsg_kretprobe(struct pt_regs *ctx) {
  count_call((__s64)(int)PT_REGS_RC(ctx), 1);
  return 0;
}
