// syscount on the raw sys_enter tracepoint (4.17+): like tp_btf, the kernel passes the syscall id
// as an argument (args[1]; args[0] is the registers) and fills no record, but no BTF is needed,
// so kernels from 4.17 without BTF get the cheaper attach point too.
#include "syscount.h"

SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx) {
  count_syscall((long)ctx->args[1]);
  return 0;
}
