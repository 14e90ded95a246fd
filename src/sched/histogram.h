// SPDX-License-Identifier: Apache-2.0
// File: sched/histogram.h
//
// The run-queue latency histograms of sched.bpf.c read in user space:
// log-linear buckets of nanoseconds (four per power of two, so a bucket is
// at most 25% wide; sched/sched.h), their bounds, quantiles, and the
// difference of two readings (a window).
#ifndef SYSPGO_SCHED_HISTOGRAM_H_
#define SYSPGO_SCHED_HISTOGRAM_H_

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <string>

#include "sched/sched.h"

namespace syspgo::sched {

// The bucket of a value in nanoseconds (the kernel side's bucket_of).
uint32_t BucketOf(uint64_t ns);
// [lower, upper) of a bucket in nanoseconds.
uint64_t BucketLower(uint32_t bucket);
uint64_t BucketUpper(uint32_t bucket);

struct Histogram {
  std::array<uint64_t, SCHED_HIST_BUCKETS> buckets{};
  uint64_t count = 0;
  uint64_t sum_ns = 0;
  uint64_t max_ns = 0;  // since the observer started (a window keeps the later reading's)

  void Add(uint64_t ns);
  // The value below which a fraction q of the samples lie, as the upper
  // bound of the bucket that holds the q-th sample (an over-estimate by at
  // most 25%), capped at max_ns; 0 without samples.
  uint64_t Quantile(double q) const;
  double MeanNs() const {
    return count ? static_cast<double>(sum_ns) / static_cast<double>(count) : 0;
  }
  // The samples in this reading and not in `earlier` (a later reading of
  // the same counters minus an earlier one).
  Histogram Minus(const Histogram& earlier) const;
  // Samples at or below `ns`, counting whole buckets whose upper bound is
  // at most ns + 1 (for Prometheus' cumulative `le` buckets).
  uint64_t CountAtMost(uint64_t ns) const;
};

// "250us", "1.5ms", "2s", "100ns" -> nanoseconds. A bare number is refused
// (the unit is part of the meaning).
bool ParseDurationNs(const std::string& text, uint64_t* ns);
// 1234567 -> "1.23ms"
std::string FormatNs(uint64_t ns);

}  // namespace syspgo::sched

#endif  // SYSPGO_SCHED_HISTOGRAM_H_
