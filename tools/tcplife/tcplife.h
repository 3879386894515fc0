// What tcplife's BPF objects share: one record per TCP session as it closes, and how a session is
// followed from its first state change to its close, keyed by the socket's address. The objects
// differ only in where they read a change from: tcplife.bpf.c from the classic
// sock:inet_sock_set_state (fields at format offsets, no BTF, bytes at calibrated offsets),
// tcplife.tp_btf.bpf.c from the BTF-typed one (the socket itself, bytes included, through CO-RE),
// tcplife.kprobe.bpf.c from a kprobe on tcp_set_state (kernels before 4.16, bytes as the first).
#ifndef DIAG_TCPLIFE_H
#define DIAG_TCPLIFE_H

#include "diag.h"

#define COMM_LEN 16
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

// The kernel's TCP states (include/net/tcp_states.h), stable since 2.6.
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10

// Which fields of a record the program knew (tools/tcplife/bpf.ts prints the others as unknown).
#define KNOWN_OWNER 1  // pid and comm
#define KNOWN_SPAN 2   // span_ns
#define KNOWN_BYTES 4  // tx_bytes and rx_bytes

// tools/tcplife/bpf.ts decodes this layout (offsets in its EVENT): keep them together. 96 bytes.
struct tcplife_event {
  __u64 span_ns;   // 0: from the first state change of the session to its close
  __u64 end_ns;    // 8: bpf_ktime_get_ns() at the close (CLOCK_MONOTONIC), always known
  __u64 tx_bytes;  // 16: bytes the peer acknowledged (tcp_sock.bytes_acked)
  __u64 rx_bytes;  // 24: bytes received (tcp_sock.bytes_received)
  __u32 pid;       // 32: the process that owned the session (thread group)
  __u16 lport;     // 36: host order
  __u16 rport;     // 38: host order
  __u16 family;    // 40: AF_INET or AF_INET6
  __u8 known;      // 42: KNOWN_* bits
  __u8 pad;
  char comm[COMM_LEN];  // 44
  __u8 laddr[16];       // 60: network order; an IPv4 address in the first 4 bytes
  __u8 raddr[16];       // 76
  __u32 pad2;           // 92
};

struct owner {
  __u32 pid;
  char comm[COMM_LEN];
};

DIAG_EVENTS(DIAG_ROW_EVENTS_BYTES)

// When each socket's session began, by socket address.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u64);
  __type(value, __u64);
} births SEC(".maps");

// The process that owns each socket, recorded at the first change a system call of its own makes.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u64);
  __type(value, struct owner);
} owners SEC(".maps");

// A map update that failed for another reason than the key being there already (a full map).
static __always_inline void keep_first(void *map, __u64 *key, void *value) {
  long err = bpf_map_update_elem(map, key, value, BPF_NOEXIST);
  if (err && err != -17 /* EEXIST */) count_lost();
}

/*
 * One state change of socket `sk`. Returns 1 when the session closed and its record should be
 * sent: `event` then has the owner, the span and the time of the close, and the caller fills in
 * the addresses, ports and bytes. A session begins at its first change to an open state
 * (SYN_SENT, SYN_RECV, ESTABLISHED). Its owner is the process current at the first change one of
 * its own system calls makes: SYN_SENT (connect), FIN_WAIT1 (close or shutdown first), LAST_ACK
 * (close or shutdown after the peer's); the other changes come from packets, in whatever process
 * the softirq interrupted.
 * With a process filter, only sessions that a traced process owned are sent.
 */
static __always_inline int session_changed(__u64 sk, int oldstate, int newstate, struct tcplife_event *event) {
  if (newstate < TCP_FIN_WAIT1) {
    __u64 now = bpf_ktime_get_ns();
    keep_first(&births, &sk, &now);
  }
  if ((newstate == TCP_SYN_SENT || newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) && traced()) {
    struct owner me = {};
    me.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&me.comm, sizeof(me.comm));
    keep_first(&owners, &sk, &me);
  }
  if (newstate != TCP_CLOSE) return 0;
  event->end_ns = bpf_ktime_get_ns();
  __u64 *birth = bpf_map_lookup_elem(&births, &sk);
  if (birth) {
    event->span_ns = event->end_ns - *birth;
    event->known |= KNOWN_SPAN;
  }
  struct owner *owner = bpf_map_lookup_elem(&owners, &sk);
  if (owner) {
    event->pid = owner->pid;
    bpf_probe_read(&event->comm, sizeof(event->comm), owner->comm);
    event->known |= KNOWN_OWNER;
  }
  bpf_map_delete_elem(&births, &sk);
  bpf_map_delete_elem(&owners, &sk);
  // A listening socket closing is no session. Nor is a socket that closes from SYN_RECV: a child
  // the listener made that never became the connection (the duplicate when two CPUs complete one
  // handshake at once, which the kernel closes as it keeps the other; one dropped before any
  // accept), which no process ever held. (A TCP Fast Open child reset before the handshake's end
  // is left out with them.)
  if (oldstate == TCP_LISTEN || oldstate == TCP_SYN_RECV) return 0;
  if (KNOB(filter_tgid) && !owner) return 0;
  return 1;
}

// Without BTF (tcplife.bpf.c, tcplife.kprobe.bpf.c): tcp_sock's byte counters at the offsets diag
// calibrated on this kernel against its own TCP_INFO (src/net/tcp-offsets.ts); 0 where it could not.
DIAG_KNOB(__u32, bytes_acked_offset, 0)
DIAG_KNOB(__u32, bytes_received_offset, 0)

static __always_inline void read_calibrated_bytes(char *sk, struct tcplife_event *event) {
  __u32 acked = KNOB(bytes_acked_offset), received = KNOB(bytes_received_offset);
  if (!acked || !received) return;
  bpf_probe_read(&event->tx_bytes, sizeof(event->tx_bytes), sk + acked);
  bpf_probe_read(&event->rx_bytes, sizeof(event->rx_bytes), sk + received);
  event->known |= KNOWN_BYTES;
}

#endif
