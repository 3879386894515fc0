// What the tcptop objects share: bytes received and sent, by process and connection.
// tcptop.tp_btf.bpf.c feeds it from BTF-typed hooks (the sock_send_length/sock_recv_length
// tracepoints, fentry or kprobes on tcp_sendmsg/tcp_cleanup_rbuf) and fills in the connection's
// addresses from the socket, at offsets libbpf relocates from the kernel's BTF (CO-RE);
// tcptop.bpf.c feeds it where there is no BTF (the classic tracepoints, kprobes) and leaves the
// addresses out (family 0): diag cannot know where they are in struct sock there.
#ifndef DIAG_TCPTOP_H
#define DIAG_TCPTOP_H

#include "diag.h"

#define TCPTOP_AF_INET 2
#define TCPTOP_AF_INET6 10
#define TCPTOP_IPPROTO_TCP 6
#define TCPTOP_MSG_PEEK 2

// A row of the table: the process (tgid and name) and the connection. tools/tcptop/bpf.ts reads
// it at these offsets (KEY there).
struct tcp_key {
  __u32 pid;
  __u16 family;  // AF_INET or AF_INET6; 0 when the addresses are not known
  __u16 lport;   // network order, as the socket has them
  __u16 dport;
  __u16 pad;
  __u8 saddr[16];  // IPv4 in the first 4 bytes
  __u8 daddr[16];
  char comm[16];
};

struct tcp_bytes {
  __u64 rx;
  __u64 tx;
};

// Cumulative, never cleared while tracing (user space takes differences between reads).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct tcp_key);
  __type(value, struct tcp_bytes);
} bytes SEC(".maps");

// The current process's part of the key.
static __always_inline void key_process(struct tcp_key *key) {
  key->pid = bpf_get_current_pid_tgid() >> 32;
  bpf_get_current_comm(&key->comm, sizeof(key->comm));
}

// Adds `size` bytes received (rx) or sent to the key's row; a full map counts as lost.
static __always_inline void add_bytes(struct tcp_key *key, __u64 size, int rx) {
  struct tcp_bytes *known = bpf_map_lookup_elem(&bytes, key);
  if (!known) {
    struct tcp_bytes zero = {};
    bpf_map_update_elem(&bytes, key, &zero, BPF_NOEXIST);  // or another CPU made it first
    known = bpf_map_lookup_elem(&bytes, key);
    if (!known) {
      count_lost();
      return;
    }
  }
  if (rx) __sync_fetch_and_add(&known->rx, size);
  else __sync_fetch_and_add(&known->tx, size);
}

#endif
