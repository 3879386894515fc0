// The off-CPU workload with a known answer (offcputime's tests): sleep_in_nanosleep() blocks
// N times for MS milliseconds in nanosleep(2), so about N * MS ms off CPU under one stack.
// Built dynamically linked with frame pointers (test/workload/Makefile): the user stack is walked
// by frame pointer, and its frames are named from this file's and libc's symbol tables.
//
//   diag-offcpu [N [MS [SYNCS FILE]]]   (default 100 times 10 ms)
//   diag-offcpu wake [N [MS]]           (offwaketime's: N times, a thread in wait_for_waker()
//                                        blocks reading a pipe until one in wake_sleeper() writes
//                                        a byte to it after sleeping MS ms, so about N * MS ms
//                                        blocked, woken by it)
//
// With SYNCS and FILE it then waits on the disk too: wait_for_disk() writes a block to FILE and
// fsync(2)s it, SYNCS times, blocking uninterruptibly (D) where the sleeps block interruptibly (S):
// the known answer of offcputime --state.
//
// It runs at a real-time priority where it may (root): off-CPU time runs from switch-out to
// switch-in, so on a busy machine each wakeup's wait for a CPU would add to the sleeps; at
// SCHED_FIFO the woken program runs at once and the known answer holds on a loaded test host.
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// A frame of its own between the named function and libc: libc's nanosleep keeps no frame
// pointer, so the return address into its caller is found through this frame's, not libc's.
__attribute__((noinline)) static int nap(const struct timespec *duration) {
  int rc = nanosleep(duration, NULL);
  __asm__ volatile("" ::: "memory");  // not a tail call
  return rc;
}

__attribute__((noinline)) int sleep_in_nanosleep(int times, long ms) {
  struct timespec duration = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  int failed = 0;
  for (int i = 0; i < times; i++) failed += nap(&duration) != 0;
  return failed;
}

// The wake mode's two threads: the pipe between them, how many bytes, and the pause before each.
struct wakeups {
  int pipe[2];
  int times;
  long ms;
};

// Frames of their own between the named functions and libc, as nap() is for nanosleep.
__attribute__((noinline)) static ssize_t read_byte(int fd, char *byte) {
  ssize_t n = read(fd, byte, 1);
  __asm__ volatile("" ::: "memory");
  return n;
}

__attribute__((noinline)) static ssize_t write_byte(int fd) {
  ssize_t n = write(fd, "x", 1);
  __asm__ volatile("" ::: "memory");
  return n;
}

__attribute__((noinline)) int wait_for_waker(struct wakeups *w) {
  int failed = 0;
  char byte;
  for (int i = 0; i < w->times; i++) failed += read_byte(w->pipe[0], &byte) != 1;
  return failed;
}

__attribute__((noinline)) void *wake_sleeper(void *arg) {
  struct wakeups *w = arg;
  struct timespec duration = {.tv_sec = w->ms / 1000, .tv_nsec = (w->ms % 1000) * 1000000L};
  for (int i = 0; i < w->times; i++) {
    nap(&duration);
    write_byte(w->pipe[1]);
  }
  __asm__ volatile("" ::: "memory");
  return NULL;
}

static int wake(int times, long ms) {
  struct wakeups w = {.times = times, .ms = ms};
  if (pipe(w.pipe) != 0) return 1;
  pthread_t waker;
  if (pthread_create(&waker, NULL, wake_sleeper, &w) != 0) return 1;
  int failed = wait_for_waker(&w);
  pthread_join(waker, NULL);
  return failed;
}

__attribute__((noinline)) int wait_for_disk(int times, const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 1;
  char block[4096];
  memset(block, 'x', sizeof(block));
  int failed = 0;
  for (int i = 0; i < times; i++) failed += pwrite(fd, block, sizeof(block), (off_t)i * sizeof(block)) != sizeof(block) || fsync(fd) != 0;
  close(fd);
  unlink(path);
  __asm__ volatile("" ::: "memory");
  return failed;
}

int main(int argc, char **argv) {
  int waking = argc > 1 && strcmp(argv[1], "wake") == 0;
  if (waking) argv++, argc--;
  int times = argc > 1 ? atoi(argv[1]) : 100;
  long ms = argc > 2 ? atol(argv[2]) : 10;
  int syncs = argc > 4 ? atoi(argv[3]) : 0;
  if (times < 0 || ms < 0 || syncs < 0 || argc == 4 || argc > 5 || (waking && syncs > 0)) {
    fprintf(stderr, "usage: diag-offcpu [TIMES [MS [SYNCS FILE]]] | diag-offcpu wake [TIMES [MS]]\n");
    return 2;
  }
  struct sched_param realtime = {.sched_priority = 10};
  sched_setscheduler(0, SCHED_FIFO, &realtime);  // best effort: without it, only less exact (threads inherit it)
  int failed = waking ? wake(times, ms) : sleep_in_nanosleep(times, ms);
  if (syncs > 0) failed += wait_for_disk(syncs, argv[4]);
  __asm__ volatile("" ::: "memory");
  return failed ? 1 : 0;
}
