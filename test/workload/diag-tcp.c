// The TCP workload with known answers (tcplife, tcptop, tcpdrop, tcprtt tests), on loopback only.
//
//   diag-tcp server ADDR REPLY          listens on ADDR (127.0.0.1 or ::1), port chosen by the
//                                       kernel and printed on stdout as "port N"; for each
//                                       connection, reads until the client's FIN, then writes
//                                       REPLY bytes and closes. Runs until killed.
//   diag-tcp client ADDR PORT N SEND    N sessions, one after another: connect, write SEND bytes,
//                                       shut down writing, read to the end (the server's REPLY),
//                                       close. Prints "sessions N sent S received R" and the local
//                                       port of each session ("lport P").
//   diag-tcp refused ADDR PORT N        N connects to PORT where nothing listens: each SYN is
//                                       answered by a reset (and dropped by the kernel: no socket).
//
// The server runs apart from the client, so that a test tracing the client (-- diag-tcp client)
// sees only the client's side of each session. Static (test/workload/Makefile), for the lab.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char chunk[65536];

static int parse_addr(const char *text, int port, struct sockaddr_storage *addr, socklen_t *len) {
  memset(addr, 0, sizeof(*addr));
  struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(*v4);
    return AF_INET;
  }
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(*v6);
    return AF_INET6;
  }
  fprintf(stderr, "diag-tcp: not an address: %s\n", text);
  exit(2);
}

static int local_port(int fd) {
  struct sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) return -1;
  return ntohs(addr.ss_family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port : ((struct sockaddr_in6 *)&addr)->sin6_port);
}

static long write_bytes(int fd, long count) {
  long done = 0;
  while (done < count) {
    long want = count - done < (long)sizeof(chunk) ? count - done : (long)sizeof(chunk);
    ssize_t n = write(fd, chunk, want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += n;
  }
  return done;
}

static long read_to_end(int fd) {
  long done = 0;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += n;
  }
  return done;
}

static int serve(const char *text, long reply) {
  struct sockaddr_storage addr;
  socklen_t len;
  int family = parse_addr(text, 0, &addr, &len);
  int fd = socket(family, SOCK_STREAM, 0);
  int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, len) != 0 || listen(fd, 128) != 0) {
    perror("diag-tcp: listen");
    return 1;
  }
  printf("port %d\n", local_port(fd));
  fflush(stdout);
  for (;;) {
    int peer = accept(fd, NULL, NULL);
    if (peer < 0) {
      if (errno == EINTR) continue;
      perror("diag-tcp: accept");
      return 1;
    }
    read_to_end(peer);
    write_bytes(peer, reply);
    close(peer);
  }
}

static int client(const char *text, int port, int sessions, long send) {
  long sent = 0, received = 0;
  for (int i = 0; i < sessions; i++) {
    struct sockaddr_storage addr;
    socklen_t len;
    int family = parse_addr(text, port, &addr, &len);
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, len) != 0) {
      perror("diag-tcp: connect");
      return 1;
    }
    printf("lport %d\n", local_port(fd));
    sent += write_bytes(fd, send);
    shutdown(fd, SHUT_WR);
    received += read_to_end(fd);
    close(fd);
  }
  printf("sessions %d sent %ld received %ld\n", sessions, sent, received);
  return 0;
}

static int refused(const char *text, int port, int times) {
  int refusals = 0;
  for (int i = 0; i < times; i++) {
    struct sockaddr_storage addr;
    socklen_t len;
    int family = parse_addr(text, port, &addr, &len);
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0) return 1;
    if (connect(fd, (struct sockaddr *)&addr, len) != 0 && errno == ECONNREFUSED) refusals++;
    close(fd);
  }
  printf("refused %d\n", refusals);
  return refusals == times ? 0 : 1;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  memset(chunk, 'd', sizeof(chunk));
  if (argc == 4 && strcmp(argv[1], "server") == 0) return serve(argv[2], atol(argv[3]));
  if (argc == 6 && strcmp(argv[1], "client") == 0) return client(argv[2], atoi(argv[3]), atoi(argv[4]), atol(argv[5]));
  if (argc == 5 && strcmp(argv[1], "refused") == 0) return refused(argv[2], atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr,
          "usage: diag-tcp server ADDR REPLY | client ADDR PORT N SEND | refused ADDR PORT N\n");
  return 2;
}
