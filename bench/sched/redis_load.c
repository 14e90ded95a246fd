// SPDX-License-Identifier: Apache-2.0
// A fixed-rate GET load for redis (bench/sched.sh): CLIENTS connections,
// each on its own thread, together sending RATE requests per second for
// WARMUP + SECONDS. Latency is taken from the moment a request was due
// (its slot in the schedule) to the end of its reply, so a client that
// was kept off the CPU is charged for it (no coordinated omission). Only
// requests due after the warm-up count. Prints one JSON line.
//   usage: redis_load HOST PORT CLIENTS RATE SECONDS WARMUP
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct client {
  pthread_t thread;
  int fd;
  double interval_ns;
  uint64_t start_ns, warm_ns, end_ns;
  uint64_t* lat;
  size_t n, cap;
  uint64_t errors;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t) {
  struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
                        .tv_nsec = (long)(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

// Reads one RESP bulk reply ("$N\r\n<N bytes>\r\n" or "$-1\r\n").
static int read_reply(int fd) {
  char buf[4096];
  size_t have = 0;
  long need = -1;
  for (;;) {
    ssize_t r = read(fd, buf + have, sizeof(buf) - have);
    if (r <= 0) return -1;
    have += (size_t)r;
    if (need < 0) {
      char* crlf = memmem(buf, have, "\r\n", 2);
      if (!crlf) continue;
      if (buf[0] != '$') return -1;
      long len = strtol(buf + 1, NULL, 10);
      size_t head = (size_t)(crlf - buf) + 2;
      need = (long)head + (len >= 0 ? len + 2 : 0);
    }
    if ((long)have >= need) return 0;
    if (have == sizeof(buf)) return -1;
  }
}

static void* run(void* arg) {
  struct client* c = arg;
  static const char req[] = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
  double due = (double)c->start_ns;
  for (;;) {
    due += c->interval_ns;
    uint64_t t = (uint64_t)due;
    if (t >= c->end_ns) break;
    sleep_until(t);
    if (write(c->fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1) ||
        read_reply(c->fd) != 0) {
      c->errors++;
      break;
    }
    uint64_t done = now_ns();
    if (t < c->warm_ns) continue;
    if (c->n == c->cap) {
      c->cap = c->cap ? c->cap * 2 : 4096;
      c->lat = realloc(c->lat, c->cap * sizeof(uint64_t));
    }
    c->lat[c->n++] = done - t;
  }
  return NULL;
}

static int cmp(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

static int connect_to(const char* host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0) {
    perror("connect");
    exit(1);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: redis_load HOST PORT CLIENTS RATE SECONDS WARMUP\n");
    return 2;
  }
  const char* host = argv[1];
  int port = atoi(argv[2]), clients = atoi(argv[3]);
  double rate = atof(argv[4]), seconds = atof(argv[5]), warmup = atof(argv[6]);
  if (clients < 1 || clients > 1024 || rate <= 0 || seconds <= 0 || warmup < 0) return 2;
  // The key, 64 bytes.
  int fd0 = connect_to(host, port);
  static const char set[] =
      "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$64\r\n"
      "0123456789012345678901234567890123456789012345678901234567890123\r\n";
  char ok[16];
  if (write(fd0, set, sizeof(set) - 1) != (ssize_t)(sizeof(set) - 1) ||
      read(fd0, ok, sizeof(ok)) <= 0)
    return 1;
  close(fd0);
  struct client* cs = calloc((size_t)clients, sizeof(*cs));
  uint64_t start = now_ns() + 20000000ull;
  for (int i = 0; i < clients; i++) {
    cs[i].fd = connect_to(host, port);
    cs[i].interval_ns = 1e9 * clients / rate;
    // Clients' schedules are spread over one interval.
    cs[i].start_ns = start + (uint64_t)(cs[i].interval_ns * i / clients);
    cs[i].warm_ns = start + (uint64_t)(warmup * 1e9);
    cs[i].end_ns = start + (uint64_t)((warmup + seconds) * 1e9);
  }
  for (int i = 0; i < clients; i++) pthread_create(&cs[i].thread, NULL, run, &cs[i]);
  size_t total = 0;
  uint64_t errors = 0;
  for (int i = 0; i < clients; i++) {
    pthread_join(cs[i].thread, NULL);
    total += cs[i].n;
    errors += cs[i].errors;
  }
  uint64_t* all = malloc((total ? total : 1) * sizeof(uint64_t));
  size_t k = 0;
  for (int i = 0; i < clients; i++) {
    memcpy(all + k, cs[i].lat, cs[i].n * sizeof(uint64_t));
    k += cs[i].n;
  }
  qsort(all, total, sizeof(uint64_t), cmp);
#define Q(q) (total ? all[(size_t)((q) * (double)(total - 1))] / 1e3 : 0)
  printf(
      "{\"requests\": %zu, \"errors\": %llu, \"rate\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
      "\"p999_us\": %.1f, \"max_us\": %.1f}\n",
      total, (unsigned long long)errors, total / seconds, Q(0.5), Q(0.99), Q(0.999), Q(1.0));
  return errors ? 1 : 0;
}
