// The on-CPU workload with a known answer (profile's tests): burn_cpu() spins for MS milliseconds
// of wall time in its own loop, so nearly every CPU sample of the program lands in it.
// Built dynamically linked with frame pointers (test/workload/Makefile), like diag-offcpu: the user
// stack is walked by frame pointer and named from this file's symbol table.
//
//   diag-spin [MS]   (default 2000)
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

// The clock is read only every few million rounds, so that the samples fall in this function's
// own loop rather than in the vDSO.
__attribute__((noinline)) unsigned long burn_cpu(long ms) {
  long end = now_ms() + ms;
  unsigned long x = 1;
  do {
    for (int i = 0; i < 4000000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    __asm__ volatile("" : "+r"(x));
  } while (now_ms() < end);
  return x;
}

int main(int argc, char **argv) {
  long ms = argc > 1 ? atol(argv[1]) : 2000;
  if (ms < 0) {
    fprintf(stderr, "usage: diag-spin [MS]\n");
    return 2;
  }
  unsigned long x = burn_cpu(ms);
  __asm__ volatile("" ::: "memory");
  return x == 0 ? 1 : 0;
}
