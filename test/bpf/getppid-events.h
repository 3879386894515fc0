// The record test/bpf/getppid-events.bpf.c writes per getppid(); user side: backends/bpf/event-buffer.ts tests.
#ifndef GETPPID_EVENTS_H
#define GETPPID_EVENTS_H

struct getppid_event {
  __u64 time_ns;
  __u32 tid;
  __u32 pad;
};

#endif
