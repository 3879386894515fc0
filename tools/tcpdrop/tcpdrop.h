// What tcpdrop's BPF objects and tools/tcpdrop/bpf.ts share: one record per dropped packet, with
// the id of its kernel stack in the stack trace map `stacks`. tcpdrop.tp_btf.bpf.c fills every
// field from the BTF-typed skb:kfree_skb; tcpdrop.bpf.c (no BTF: 4.x) only what the classic
// tracepoint's fields give (the L3 protocol, the reason where there is one).
#ifndef DIAG_TCPDROP_H
#define DIAG_TCPDROP_H

#include "diag.h"

#define MAX_FRAMES 127  // PERF_MAX_STACK_DEPTH
// The reason field when the kernel gives none (before 5.17).
#define NO_REASON 0xffffffff
// ETH_P_IP, ETH_P_IPV6: the tracepoint's protocol, in host order.
#define L3_IPV4 0x0800
#define L3_IPV6 0x86DD

// A reason to skip besides 0 (SKB_NOT_DROPPED_YET): SKB_CONSUMED's value, from the event's format
// (bpf.ts), where the kernel lists it; a normal free, not a drop.
DIAG_KNOB(__u32, consumed_reason, NO_REASON)

// Offsets (bpf.ts reads them): ns 0, pid 8, tid 12, stack 16, reason 20, protocol 24, sport 26,
// dport 28, state 30, tcp_flags 31, headers 32, saddr 36, daddr 52; 68 bytes.
struct drop_event {
  __u64 ns;               // bpf_ktime_get_ns(): CLOCK_MONOTONIC
  __u32 pid;              // the process running when the kernel dropped it (softirq: whoever it interrupted)
  __u32 tid;
  __s32 kernel_stack_id;  // into `stacks`, or a negative errno
  __u32 reason;           // enum skb_drop_reason, or NO_REASON
  __u16 protocol;         // L3: L3_IPV4 or L3_IPV6
  __u16 sport;            // host order; from here on only where the headers were read (headers = 1)
  __u16 dport;
  __u8 state;             // the socket's TCP state, 0 without a socket
  __u8 tcp_flags;         // the TCP header's flags byte (FIN 0x01 ... CWR 0x80)
  __u32 headers;
  __u8 saddr[16];         // 4 bytes for IPv4
  __u8 daddr[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, 4096);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, MAX_FRAMES * sizeof(__u64));
} stacks SEC(".maps");

DIAG_EVENTS(DIAG_ROW_EVENTS_BYTES)

// The normal frees: SKB_NOT_DROPPED_YET (0) and SKB_CONSUMED.
static __always_inline int normal_free(__u32 reason) {
  return reason == 0 || reason == KNOB(consumed_reason);
}

// Stamps a drop's record with the process it came in, the time and its kernel stack, and sends it.
static __always_inline void send_drop(void *ctx, struct drop_event *e) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  e->pid = pid_tgid >> 32;
  e->tid = (__u32)pid_tgid;
  e->ns = bpf_ktime_get_ns();
  e->kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
  emit(ctx, e, sizeof(*e));
}

#endif
