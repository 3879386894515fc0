// tcpdrop on the BTF-typed skb:kfree_skb (tp_btf, 5.5+): the packet's IP and TCP headers are read
// from the skb (offsets relocated by libbpf, CO-RE), so only TCP drops make records, with their
// addresses, ports, flags and socket state; the reason is the third argument, from 5.17. Where
// the kernel has tcp_drop() (4.10 to 5.x, whose drops never reach the tracepoint before 5.17), a
// kprobe on it makes the same records, loaded only there (bpf.ts).
#include "tcpdrop.h"
#include "sock.h"

#include <asm/ptrace.h>  // struct pt_regs, for the kprobe
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

// Whether kfree_skb has its reason argument (its format has the field: bpf.ts).
DIAG_KNOB(__u8, has_reason, 0)

#define IPPROTO_TCP_ 6
#define NO_HEADER 0xffff  // skb->network_header/transport_header not set

struct sk_buff {
  struct sock *sk;
  unsigned char *head;
  __u16 transport_header;
  __u16 network_header;
  __u16 protocol;
} __attribute__((preserve_access_index));

// Reads the packet's headers and emits its record when it is TCP's; the socket's state from sk,
// else from the skb's socket.
static __always_inline void record_drop(void *ctx, struct sk_buff *skb, struct sock *sk, __u32 reason) {
  __u16 protocol = __builtin_bswap16(BPF_CORE_READ(skb, protocol));
  if (protocol != L3_IPV4 && protocol != L3_IPV6) return;
  __u16 network = BPF_CORE_READ(skb, network_header);
  if (network == NO_HEADER) return;
  unsigned char *head = BPF_CORE_READ(skb, head);
  unsigned char *ip = head + network;
  struct drop_event e = {};
  __u16 transport = BPF_CORE_READ(skb, transport_header);
  __u8 l4 = 0;
  if (protocol == L3_IPV4) {
    __u8 version_ihl = 0;
    bpf_probe_read_kernel(&version_ihl, 1, ip);
    bpf_probe_read_kernel(&l4, 1, ip + 9);
    bpf_probe_read_kernel(e.saddr, 4, ip + 12);
    bpf_probe_read_kernel(e.daddr, 4, ip + 16);
    if (transport == NO_HEADER || transport == network) transport = network + (version_ihl & 0xf) * 4;
  } else {
    bpf_probe_read_kernel(&l4, 1, ip + 6);  // the next header: TCP unless extension headers come first
    bpf_probe_read_kernel(e.saddr, 16, ip + 8);
    bpf_probe_read_kernel(e.daddr, 16, ip + 24);
    if (transport == NO_HEADER || transport == network) transport = network + 40;
  }
  if (l4 != IPPROTO_TCP_ || !traced()) return;
  unsigned char *tcp = head + transport;
  __u16 ports[2] = {};
  bpf_probe_read_kernel(ports, sizeof(ports), tcp);
  bpf_probe_read_kernel(&e.tcp_flags, 1, tcp + 13);
  e.sport = __builtin_bswap16(ports[0]);
  e.dport = __builtin_bswap16(ports[1]);
  if (!sk) sk = BPF_CORE_READ(skb, sk);
  if (sk) e.state = BPF_CORE_READ(sk, __sk_common.skc_state);
  e.headers = 1;
  e.protocol = protocol;
  e.reason = reason;
  send_drop(ctx, &e);
}

SEC("tp_btf/kfree_skb")
int kfree_skb(__u64 *ctx) {
  __u32 reason = KNOB(has_reason) ? (__u32)ctx[2] : NO_REASON;
  if (KNOB(has_reason) && normal_free(reason)) return 0;
  record_drop(ctx, (struct sk_buff *)ctx[0], 0, reason);
  return 0;
}

SEC("kprobe/tcp_drop")
int BPF_KPROBE(tcp_drop, struct sock *sk, struct sk_buff *skb) {
  record_drop(ctx, skb, sk, NO_REASON);
  return 0;
}
