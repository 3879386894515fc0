// diag-gate: how diag starts every process it runs, so that none outlives it.
//
//   diag-gate PARENT_PID [--hold] PATH ARGV0 ARGS...
//
// It asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG, which the exec keeps),
// checks that the parent is still PARENT_PID (it may have died before the prctl), and execs PATH.
// With --hold it first waits on fd 3 for one byte: diag attaches tracing to this pid meanwhile,
// and the exec follows the release with no other system call, so that a traced command's counts
// are its own from its execve on. fd 3 is made close-on-exec before the wait, not closed after.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: diag-gate PARENT_PID [--hold] PATH ARGV0 [ARGS...]\n");
    return 127;
  }
  pid_t parent = (pid_t)strtol(argv[1], NULL, 10);
  int hold = strcmp(argv[2], "--hold") == 0;
  char **command = argv + 2 + hold;
  if (!command[0] || !command[1]) return 127;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) return 127;
  if (hold) {
    char byte;
    if (fcntl(3, F_SETFD, FD_CLOEXEC) != 0) return 127;
    // Zero bytes (EOF) means diag closed the gate without releasing it: run nothing.
    if (read(3, &byte, 1) != 1) return 127;
  }
  execv(command[0], command + 1);
  fprintf(stderr, "diag: cannot run %s: %s\n", command[0], strerror(errno));
  return 127;
}
