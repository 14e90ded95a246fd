// SPDX-License-Identifier: Apache-2.0
#include "sched/histogram.h"

#include <bit>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace syspgo::sched {

uint32_t BucketOf(uint64_t ns) {
  if (ns < 4) return static_cast<uint32_t>(ns);
  const uint32_t b = 63u - static_cast<uint32_t>(std::countl_zero(ns));
  const uint32_t idx = 4 * b + static_cast<uint32_t>((ns >> (b - 2)) & 3);
  return idx < SCHED_HIST_BUCKETS ? idx : SCHED_HIST_BUCKETS - 1;
}

uint64_t BucketLower(uint32_t bucket) {
  if (bucket < 8) return bucket < 4 ? bucket : 4;
  const uint32_t b = bucket / 4, s = bucket % 4;
  return (4ull + s) << (b - 2);
}

uint64_t BucketUpper(uint32_t bucket) {
  if (bucket < 4) return bucket + 1ull;
  if (bucket < 8) return 4;
  if (bucket + 1 >= SCHED_HIST_BUCKETS) return UINT64_MAX;
  const uint32_t b = bucket / 4, s = bucket % 4;
  return (5ull + s) << (b - 2);
}

void Histogram::Add(uint64_t ns) {
  ++buckets[BucketOf(ns)];
  ++count;
  sum_ns += ns;
  if (ns > max_ns) max_ns = ns;
}

uint64_t Histogram::Quantile(double q) const {
  uint64_t total = 0;
  for (uint64_t b : buckets) total += b;
  if (total == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (uint32_t i = 0; i < SCHED_HIST_BUCKETS; ++i) {
    seen += buckets[i];
    if (seen >= rank) {
      const uint64_t upper = BucketUpper(i);
      return max_ns && upper > max_ns ? max_ns : upper;
    }
  }
  return max_ns;
}

Histogram Histogram::Minus(const Histogram& earlier) const {
  Histogram out;
  for (uint32_t i = 0; i < SCHED_HIST_BUCKETS; ++i) {
    out.buckets[i] = buckets[i] >= earlier.buckets[i] ? buckets[i] - earlier.buckets[i] : 0;
  }
  out.count = count >= earlier.count ? count - earlier.count : 0;
  out.sum_ns = sum_ns >= earlier.sum_ns ? sum_ns - earlier.sum_ns : 0;
  out.max_ns = max_ns;
  // The window's max is not known: a window's quantiles are bounded by its
  // highest non-empty bucket instead.
  for (uint32_t i = SCHED_HIST_BUCKETS; i-- > 0;) {
    if (out.buckets[i]) {
      out.max_ns = std::min(max_ns ? max_ns : UINT64_MAX, BucketUpper(i));
      break;
    }
  }
  return out;
}

uint64_t Histogram::CountAtMost(uint64_t ns) const {
  uint64_t n = 0;
  for (uint32_t i = 0; i < SCHED_HIST_BUCKETS; ++i) {
    if (BucketUpper(i) > ns + 1) break;
    n += buckets[i];
  }
  return n;
}

bool ParseDurationNs(const std::string& text, uint64_t* ns) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(v >= 0) || !std::isfinite(v)) return false;
  const std::string unit(end);
  double scale = 0;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us")
    scale = 1e3;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "s")
    scale = 1e9;
  else
    return false;
  const double r = v * scale;
  if (r > 1e18) return false;
  *ns = static_cast<uint64_t>(std::llround(r));
  return true;
}

std::string FormatNs(uint64_t ns) {
  char buf[32];
  if (ns < 1000)
    std::snprintf(buf, sizeof(buf), "%lluns", static_cast<unsigned long long>(ns));
  else if (ns < 1000000)
    std::snprintf(buf, sizeof(buf), "%.3gus", static_cast<double>(ns) / 1e3);
  else if (ns < 1000000000)
    std::snprintf(buf, sizeof(buf), "%.3gms", static_cast<double>(ns) / 1e6);
  else
    std::snprintf(buf, sizeof(buf), "%.3gs", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace syspgo::sched
