// SPDX-License-Identifier: Apache-2.0
// A CPU-bound batch job that reports its own progress (bench/sched.sh):
// runs SECONDS, then prints the work units it finished (a unit is 2^20
// steps of a 64-bit LCG, ~1 ms of CPU).
//   usage: batch SECONDS
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: batch SECONDS\n");
    return 2;
  }
  const double end = now() + atof(argv[1]);
  volatile uint64_t sink = 0;
  uint64_t x = 1, units = 0;
  while (now() < end) {
    for (int i = 0; i < (1 << 20); i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
    units++;
  }
  (void)sink;
  printf("%llu\n", (unsigned long long)units);
  return 0;
}
