// diag-gate: how diag starts every process it runs, so that none outlives it.
//
//   diag-gate PARENT_PID PATH ARGV0 ARGS...           (a helper: perf)
//   diag-gate PARENT_PID --hold PATH ARGV0 ARGS...    (a command diag traces)
//
// It asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG, which an exec keeps),
// checks that the parent is still PARENT_PID (it may have died before the prctl), and execs PATH.
// With --hold the gate gets SIGUSR1 instead, and kills the command it holds before it goes.
//
// With --hold, it forks the command and stays as its parent. The command waits on fd 3 for one
// byte (diag attaches tracing to its pid meanwhile), then execs with no other system call of its
// own in between, so its counts are its own from its execve on. The gate writes "pid N" to fd 4
// at the start and "exit" when the command has exited; it keeps the exited command unreaped (its
// pid still names it, so perf -p does not stop before diag has read the last counts) until diag
// writes a second byte to fd 3 or closes it. It then exits as the command did.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int die_with(pid_t parent, int signal) {
  return prctl(PR_SET_PDEATHSIG, signal) == 0 && getppid() == parent;
}

// The command the gate holds. The kernel clears a parent-death signal when an exec changes the
// credentials (a setuid or setgid program), so the gate does not leave the command's end to the
// command's own signal: when diag dies, the gate kills it. Unreaped, its pid cannot name another
// process.
static volatile pid_t held;

static void diag_died(int signal) {
  (void)signal;
  if (held > 0) kill(held, SIGKILL);
  _exit(128 + SIGKILL);
}

// The command's pid is announced only once the command waits in read(3): from then until its
// exec it makes no system call diag could count (that read returns, execve follows). Announced
// at once, the command's own set-up (rt_sigaction, prctl, getppid) raced diag's attach.
// /proc/PID/syscall names the call a blocked task is in; where it cannot be read, the pid is
// announced as before.
static void await_blocked_in_read(pid_t child) {
  char path[64], text[128];
  snprintf(path, sizeof path, "/proc/%d/syscall", (int)child);
  for (int tries = 0; tries < 10000; tries++) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return;
    text[n] = 0;
    long number;
    unsigned long first;
    if (sscanf(text, "%ld 0x%lx", &number, &first) == 2 && number == SYS_read && first == 3) return;
    siginfo_t info = {0};
    if (waitid(P_PID, child, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == child) return;
    usleep(1000);
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: diag-gate PARENT_PID [--hold] PATH ARGV0 [ARGS...]\n");
    return 127;
  }
  pid_t parent = (pid_t)strtol(argv[1], NULL, 10);
  int hold = strcmp(argv[2], "--hold") == 0;
  char **command = argv + 2 + hold;
  if (!command[0] || !command[1]) return 127;
  if (hold) {
    pid_t gate = getpid();
    if (signal(SIGUSR1, diag_died) == SIG_ERR || !die_with(parent, SIGUSR1)) return 127;
    if (fcntl(3, F_SETFD, FD_CLOEXEC) != 0 || fcntl(4, F_SETFD, FD_CLOEXEC) != 0) return 127;
    pid_t child = fork();
    if (child < 0) return 127;
    if (child == 0) {
      char byte;
      // Until its exec, the command dies with the gate (diag's death may come before `held` is set).
      if (signal(SIGUSR1, SIG_DFL) == SIG_ERR || !die_with(gate, SIGKILL)) _exit(127);
      // Zero bytes (EOF) means diag closed the gate without releasing it: run nothing.
      if (read(3, &byte, 1) != 1) _exit(127);
      execv(command[0], command + 1);
      fprintf(stderr, "diag: cannot run %s: %s\n", command[0], strerror(errno));
      _exit(127);
    }
    held = child;
    await_blocked_in_read(child);
    // A Ctrl-C reaches the whole process group: it is for the command, which gets it too; the
    // gate stays to report the command's end (it dies with diag, whatever happens).
    int ignored[] = {SIGINT, SIGQUIT, SIGHUP, SIGTERM};
    for (unsigned i = 0; i < sizeof ignored / sizeof ignored[0]; i++) signal(ignored[i], SIG_IGN);
    dprintf(4, "pid %d\n", (int)child);
    siginfo_t info;
    while (waitid(P_PID, child, &info, WEXITED | WNOWAIT) != 0)
      if (errno != EINTR) return 127;
    dprintf(4, "exit\n");
    char bytes[2];
    // The release byte, if the command never took it, and then the word to reap.
    while (read(3, bytes, sizeof bytes) > 0) {
      if (bytes[0] == 'r' || bytes[1] == 'r') break;
    }
    int status;
    if (waitpid(child, &status, 0) != child) return 127;
    if (WIFSIGNALED(status)) {
      prctl(PR_SET_PDEATHSIG, 0);
      signal(WTERMSIG(status), SIG_DFL);
      raise(WTERMSIG(status));
      return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
  }
  if (!die_with(parent, SIGKILL)) return 127;
  execv(command[0], command + 1);
  fprintf(stderr, "diag: cannot run %s: %s\n", command[0], strerror(errno));
  return 127;
}
