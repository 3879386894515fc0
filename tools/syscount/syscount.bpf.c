// syscount: system calls counted by number, or by process, on the classic raw_syscalls:sys_enter
// tracepoint, the id read at the offset its format file gives (no BTF needed).
#include "syscount.h"

DIAG_KNOB(__u32, id_offset, 8)  // "long id" in raw_syscalls/sys_enter/format

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(void *ctx) {
  long id = 0;
  if (KNOB(count_by) == BY_SYSCALL) READ_FIELD(ctx, KNOB(id_offset), id);
  count_syscall(id);
  return 0;
}
