// SPDX-License-Identifier: Apache-2.0
// File: sched/agent.h
//
// The policy agent: every rule's window, the watched tag's run-queue
// latency over the last window (from the observer's histograms); above the
// rule's threshold, the target tag's tasks yield (sched/enforcer.h); below
// the restore threshold for restore_after (and, when the rule says so, with
// the watched tag nearly idle), they are put back. A rule that trips again
// soon after a restore waits twice as long before the next (up to 8x), so a
// protection that is still needed does not flap. Tasks that join the
// target tag while a rule is engaged are changed too, and every tick the
// tasks it changed are checked and put back when they undid the change
// (sched/enforcer.h). Every change is logged with its reason. Every second
// it writes its metrics (when asked) and its status (sched/agent_status.h).
//
// Threading: Run drives everything on the caller's thread.
#ifndef SYSPGO_SCHED_AGENT_H_
#define SYSPGO_SCHED_AGENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/log.h"
#include "common/status.h"
#include "sched/agent_status.h"
#include "sched/enforcer.h"
#include "sched/observer.h"
#include "sched/policy.h"

namespace syspgo::sched {

struct AgentOptions {
  ObserverOptions observer;
  std::string metrics_file;  // Prometheus text, rewritten every second ("" = none)
};

struct RuleState {
  Rule rule;
  uint32_t watch_id = 0;
  uint32_t target_id = 0;
  bool engaged = false;
  uint64_t window_start_ns = 0;
  Snapshot window_start;        // the reading the current window is measured from
  uint64_t quiet_since_ns = 0;  // first of the windows below the restore thresholds (0: not quiet)
  uint64_t restored_at_ns = 0;
  uint32_t backoff = 1;  // restore_after multiplier
  uint64_t engagements = 0;
  uint64_t last_scan_ns = 0;
};

class Agent {
 public:
  static Result<std::unique_ptr<Agent>> Start(const Policy& policy, const AgentOptions& options,
                                              const Logger* log);
  // Runs until `cancel`; then undoes every change. Returns the first error.
  Status Run(const CancelToken& cancel);
  const std::vector<RuleState>& rules() const { return rules_; }
  size_t recovered() const { return recovered_; }

 private:
  Agent() = default;
  Status Step(uint64_t now_ns);
  Status Evaluate(RuleState& r, const Snapshot& now);
  Status WriteMetrics(const Snapshot& now, bool up = true);
  AgentStatus CurrentStatus() const;

  AgentOptions options_;
  const Logger* log_ = nullptr;
  std::unique_ptr<Observer> observer_;
  std::unique_ptr<Enforcer> enforcer_;
  std::vector<RuleState> rules_;
  uint64_t last_sync_ns_ = 0;
  size_t recovered_ = 0;
};

// The value of a rule's metric over a window's histogram.
uint64_t MetricValue(Metric m, const Histogram& h);

}  // namespace syspgo::sched

#endif  // SYSPGO_SCHED_AGENT_H_
