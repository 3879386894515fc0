// tcplife's session_changed (tools/tcplife/tcplife.h) on state changes a test makes up, for
// test/host/tcplife-sessions.test.ts: BPF_PROG_TEST_RUN hands the program (socket, old state, new
// state) as a raw tracepoint's arguments, and it returns whether the change closed a session that
// tcplife would send (SENT), with what it knew of it (the KNOWN_* bits), else 0.
#include "../../tools/tcplife/tcplife.h"

#define SENT 0x100

SEC("raw_tp/inet_sock_set_state")
int state_change(__u64 *args) {
  struct tcplife_event event = {};
  if (!session_changed(args[0], (int)args[1], (int)args[2], &event)) return 0;
  return SENT | event.known;
}
