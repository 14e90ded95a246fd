// SPDX-License-Identifier: Apache-2.0
#ifndef SYSPGO_COMMON_CLOCK_H_
#define SYSPGO_COMMON_CLOCK_H_

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace syspgo {

using SteadyClock = std::chrono::steady_clock;

inline double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// What is left until `deadline`, at least 1 ms (a wait of 0 would mean
// "do not wait" to some callees).
inline std::chrono::milliseconds TimeLeft(SteadyClock::time_point deadline) {
  return std::max(
      std::chrono::milliseconds(1),
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()));
}

// CLOCK_MONOTONIC in nanoseconds: the clock of bpf_ktime_get_ns().
inline uint64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace syspgo

#endif  // SYSPGO_COMMON_CLOCK_H_
