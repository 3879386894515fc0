// A workload with a known answer, for diag's tests, lab and benchmarks: it makes exactly the
// number of kernel events it is asked for, so a tool's count can be checked against it.
//
//   diag-workload getppid N [P]    N getppid() syscalls, in each of P processes (default 1) at once
//   diag-workload paced N RATE     N getppid() syscalls at RATE per second (sleeping between bursts)
//   diag-workload read FILE N      N one-byte pread()s of FILE (N vfs_read calls)
//   diag-workload dwrite FILE N    N 4 KiB O_DIRECT writes to FILE (a block device or a file)
//   diag-workload wakeups N [switches]
//                                  N pipe round trips between two processes (2N wakeups);
//                                  with "switches", prints the two processes' context switches
//                                  (getrusage: each is followed by one switch back in) to stderr
//   diag-workload calls N          N getppid, 2N getpid, 3N getuid and 4N getgid syscalls
//   diag-workload threads T N      T threads making N getppid syscalls each, main thread none
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long count(const char *text) {
  char *end;
  long n = strtol(text, &end, 10);
  if (*end || n < 0) {
    fprintf(stderr, "diag-workload: not a count: %s\n", text);
    exit(2);
  }
  return n;
}

static void *getppid_thread(void *n) {
  for (long i = (long)n; i > 0; i--) syscall(SYS_getppid);
  return NULL;
}

static int fail(const char *what) {
  fprintf(stderr, "diag-workload: %s: %s\n", what, strerror(errno));
  return 1;
}

int main(int argc, char **argv) {
  if ((argc == 3 || argc == 4) && strcmp(argv[1], "getppid") == 0) {
    long n = count(argv[2]), processes = argc == 4 ? count(argv[3]) : 1;
    // P - 1 children and this process make the calls together: on several CPUs, as fast as each can.
    for (long p = 1; p < processes; p++) {
      pid_t child = fork();
      if (child < 0) return fail("fork");
      if (child == 0) {
        for (long i = n; i > 0; i--) syscall(SYS_getppid);
        _exit(0);
      }
    }
    for (long i = n; i > 0; i--) syscall(SYS_getppid);
    int status, failed = 0;
    while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status);
    return failed;
  }
  if (argc == 4 && strcmp(argv[1], "paced") == 0) {
    // Bursts of 100 calls, each burst started on its own schedule (absolute time: no drift).
    long n = count(argv[2]), rate = count(argv[3]);
    if (rate == 0) {
      fprintf(stderr, "diag-workload: paced needs a RATE above 0\n");
      return 2;
    }
    struct timespec start, at;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long done = 0; done < n;) {
      long long ns = (long long)start.tv_nsec + done * 1000000000LL / rate;
      at.tv_sec = start.tv_sec + ns / 1000000000LL;
      at.tv_nsec = ns % 1000000000LL;
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR) {
      }
      for (long i = 0; i < 100 && done < n; i++, done++) syscall(SYS_getppid);
    }
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "nosys") == 0) {  // a syscall number the kernel does not have
    long nr = count(argv[2]);
    for (long i = count(argv[3]); i > 0; i--) syscall(nr);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "calls") == 0) {
    // Through syscall(), so that no libc caching can skip one.
    long n = count(argv[2]);
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    for (long i = 0; i < 2 * n; i++) syscall(SYS_getpid);
    for (long i = 0; i < 3 * n; i++) syscall(SYS_getuid);
    for (long i = 0; i < 4 * n; i++) syscall(SYS_getgid);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "threads") == 0) {
    long threads = count(argv[2]), n = count(argv[3]);
    pthread_t ids[64];
    if (threads > 64) threads = 64;
    for (long t = 0; t < threads; t++)
      if (pthread_create(&ids[t], NULL, getppid_thread, (void *)n)) return fail("pthread_create");
    for (long t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "read") == 0) {
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) return fail(argv[2]);
    char byte;
    for (long i = count(argv[3]); i > 0; i--)
      if (pread(fd, &byte, 1, 0) < 0) return fail("pread");
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "dwrite") == 0) {
    int fd = open(argv[2], O_WRONLY | O_DIRECT | O_CREAT, 0600);
    if (fd < 0) return fail(argv[2]);
    void *buffer;
    if (posix_memalign(&buffer, 4096, 4096)) return fail("posix_memalign");
    memset(buffer, 0x5a, 4096);
    long n = count(argv[3]);
    // Offsets 8 KiB apart, so that no two requests can merge; 4096 distinct ones (within 32 MiB),
    // more than a hist trigger's default table of 2048 keys.
    for (long i = 0; i < n; i++)
      if (pwrite(fd, buffer, 4096, (i % 4096) * 8192) != 4096) return fail("pwrite");
    return 0;
  }
  if ((argc == 3 || (argc == 4 && strcmp(argv[3], "switches") == 0)) && strcmp(argv[1], "wakeups") == 0) {
    int ping[2], pong[2];
    if (pipe(ping) || pipe(pong)) return fail("pipe");
    long n = count(argv[2]);
    pid_t child = fork();
    if (child < 0) return fail("fork");
    char token = 0;
    if (child == 0) {
      for (long i = 0; i < n; i++)
        if (read(ping[0], &token, 1) != 1 || write(pong[1], &token, 1) != 1) _exit(1);
      _exit(0);
    }
    for (long i = 0; i < n; i++)
      if (write(ping[1], &token, 1) != 1 || read(pong[0], &token, 1) != 1) return fail("round trip");
    int status;
    waitpid(child, &status, 0);
    if (argc == 4) {
      struct rusage self, children;
      getrusage(RUSAGE_SELF, &self);
      getrusage(RUSAGE_CHILDREN, &children);
      fprintf(stderr, "diag-workload: %ld context switches\n", self.ru_nvcsw + self.ru_nivcsw + children.ru_nvcsw + children.ru_nivcsw);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  fprintf(stderr, "usage: diag-workload getppid N [P] | paced N RATE | nosys NR N | calls N | threads T N | read FILE N | dwrite FILE N | wakeups N [switches]\n");
  return 2;
}
