// SPDX-License-Identifier: Apache-2.0
// File: sched/policy.h
//
// The agent's policies: small declarative rules, one [rule NAME] section
// each (docs/sched.md; examples/sched/online-batch.policy):
//
//   [rule protect-online]
//   watch = online                # the tag whose run-queue latency is kept low
//   when = runq_p99 > 200us       # in a window; runq_p50 p90 p99 p999 max mean
//   window = 100ms
//   min_samples = 10              # fewer wake-ups in a window say nothing
//   target = batch                # the tag that yields
//   action = sched_idle           # sched_idle | cpu.idle | affinity CPUS
//   restore_below = 100us         # restore when the metric stayed below this
//   restore_after = 2s            # ... for this long
//   restore_cpu_below = 5%        # ... and the watched tag used less CPU than
//                                 #     this (optional: "when it is idle")
//
// Blank lines and # comments are ignored; an unknown key, a missing one or
// a bad value is an error naming the line.
#ifndef SYSPGO_SCHED_POLICY_H_
#define SYSPGO_SCHED_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syspgo::sched {

enum class Metric { kP50, kP90, kP99, kP999, kMax, kMean };
std::string_view MetricName(Metric m);

enum class ActionKind {
  kSchedIdle,  // the target's threads to SCHED_IDLE (sched_setattr)
  kCpuIdle,    // the target's processes into a cgroup with cpu.idle = 1
  kAffinity,   // the target's threads onto CPUS (sched_setaffinity)
};
std::string_view ActionName(ActionKind a);

struct Rule {
  std::string name;
  std::string watch;
  Metric metric = Metric::kP99;
  uint64_t above_ns = 0;
  uint64_t window_ns = 100'000'000;
  uint64_t min_samples = 10;
  std::string target;
  ActionKind action = ActionKind::kSchedIdle;
  std::vector<int> cpus;  // kAffinity
  uint64_t restore_below_ns = 0;
  uint64_t restore_after_ns = 2'000'000'000;
  std::optional<double> restore_cpu_below;  // fraction of one CPU
  std::string Describe() const;             // one line
};

struct Policy {
  std::vector<Rule> rules;
};

Result<Policy> ParsePolicy(std::string_view text, std::string_view source);
Result<Policy> LoadPolicy(const std::string& path);

}  // namespace syspgo::sched

#endif  // SYSPGO_SCHED_POLICY_H_
