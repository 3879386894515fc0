// Name lookups with a known answer, for gethostlatency's tests: exactly the lookups asked for,
// through the libc's own entry points, so that a tool's rows can be checked one by one.
//
//   diag-lookups [-w MS] [-s MS] [-n HOST] A [B [C]]
//     A getaddrinfo(HOST) calls, then B gethostbyname(HOST), then C gethostbyname2(HOST, AF_INET),
//     sleeping -s milliseconds after each (default 0), after waiting -w milliseconds before the
//     first (for a tracer to attach with --pid); HOST is "localhost" by default.
//
// Dynamically linked (unlike diag-workload): the libc's functions are what is traced, and a static
// binary has its own copies, which the tool does not look for.
#define _GNU_SOURCE
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long count(const char *text) {
  char *end;
  long n = strtol(text, &end, 10);
  if (*text == '\0' || *end || n < 0) {
    fprintf(stderr, "diag-lookups: not a count: %s\n", text);
    exit(2);
  }
  return n;
}

static void pause_ms(long ms) {
  if (ms <= 0) return;
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0) {
  }
}

int main(int argc, char **argv) {
  const char *host = "localhost";
  long sleep_ms = 0, wait_ms = 0;
  int opt;
  while ((opt = getopt(argc, argv, "w:s:n:")) != -1) {
    if (opt == 's') sleep_ms = count(optarg);
    else if (opt == 'w') wait_ms = count(optarg);
    else if (opt == 'n') host = optarg;
    else {
      fprintf(stderr, "usage: diag-lookups [-w MS] [-s MS] [-n HOST] GETADDRINFO [GETHOSTBYNAME [GETHOSTBYNAME2]]\n");
      return 2;
    }
  }
  if (optind >= argc || argc - optind > 3) {
    fprintf(stderr, "usage: diag-lookups [-w MS] [-s MS] [-n HOST] GETADDRINFO [GETHOSTBYNAME [GETHOSTBYNAME2]]\n");
    return 2;
  }
  long calls[3] = {0, 0, 0};
  for (int i = 0; optind + i < argc; i++) calls[i] = count(argv[optind + i]);

  pause_ms(wait_ms);
  long failed = 0;
  for (long i = 0; i < calls[0]; i++) {
    struct addrinfo *result = NULL;
    if (getaddrinfo(host, NULL, NULL, &result) != 0) failed++;
    else freeaddrinfo(result);
    pause_ms(sleep_ms);
  }
  for (long i = 0; i < calls[1]; i++) {
    if (!gethostbyname(host)) failed++;
    pause_ms(sleep_ms);
  }
  for (long i = 0; i < calls[2]; i++) {
    if (!gethostbyname2(host, AF_INET)) failed++;
    pause_ms(sleep_ms);
  }
  // What the tests compare the rows with: the pid, and how many lookups did not resolve.
  printf("pid %d lookups %ld failed %ld\n", getpid(), calls[0] + calls[1] + calls[2], failed);
  return 0;
}
