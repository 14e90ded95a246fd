// SPDX-License-Identifier: Apache-2.0
#ifndef SYSPGO_COMMON_CLOCK_H_
#define SYSPGO_COMMON_CLOCK_H_

#include <chrono>

namespace syspgo {

using SteadyClock = std::chrono::steady_clock;

inline double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

}  // namespace syspgo

#endif  // SYSPGO_COMMON_CLOCK_H_
