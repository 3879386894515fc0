// Calibrating tcp_sock offsets without BTF (src/net/tcp-offsets.ts): a kprobe on
// tcp_get_info(sk, info), which getsockopt(TCP_INFO) calls, copies the head of the socket into
// `dump` when diag's own process (knob tgid) asks, so diag can find there the values the kernel
// then reports in struct tcp_info. Copied in 256-byte chunks through the stack: before 4.11
// bpf_probe_read writes only to the stack, and a stack is 512 bytes.
#include "diag.h"

#include <asm/ptrace.h>  // struct pt_regs, as user space names its registers
#include <bpf/bpf_tracing.h>

#define CHUNK 256
#define CHUNKS 16  // 4 KiB: tcp_sock is about 2 KiB (4.9) to 2.3 KiB (6.18)

DIAG_KNOB(__u32, tgid, 0)

// Chunk i of the socket, bytes [i * CHUNK, (i + 1) * CHUNK).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, CHUNKS);
  __type(key, __u32);
  __uint(value_size, CHUNK);
} dump SEC(".maps");

// How many dumps were taken (entry 0), and how many chunks could not be read (entry 1).
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u64);
} dumps SEC(".maps");

static __always_inline void count(__u32 which) {
  __u64 *n = bpf_map_lookup_elem(&dumps, &which);
  if (n) __sync_fetch_and_add(n, 1);
}

SEC("kprobe/tcp_get_info")
int tcp_get_info_entry(struct pt_regs *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) != KNOB(tgid)) return 0;
  char *sk = (char *)PT_REGS_PARM1(ctx);
  char chunk[CHUNK];
#pragma unroll
  for (__u32 i = 0; i < CHUNKS; i++) {
    __u32 key = i;
    if (bpf_probe_read(chunk, sizeof(chunk), sk + i * CHUNK)) count(1);
    else bpf_map_update_elem(&dump, &key, chunk, BPF_ANY);
  }
  count(0);
  return 0;
}
