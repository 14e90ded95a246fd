// SPDX-License-Identifier: Apache-2.0
#include "sched/agent.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/prometheus.h"
#include "sched/agent_status.h"
#include "sched/report.h"

namespace syspgo::sched {

uint64_t MetricValue(Metric m, const Histogram& h) {
  switch (m) {
    case Metric::kP50:
      return h.Quantile(0.50);
    case Metric::kP90:
      return h.Quantile(0.90);
    case Metric::kP99:
      return h.Quantile(0.99);
    case Metric::kP999:
      return h.Quantile(0.999);
    case Metric::kMax:
      return h.Quantile(1.0);
    case Metric::kMean:
      return static_cast<uint64_t>(h.MeanNs());
  }
  return 0;
}

Result<std::unique_ptr<Agent>> Agent::Start(const Policy& policy, const AgentOptions& options,
                                            const Logger* log) {
  std::unique_ptr<Agent> a(new Agent());
  a->options_ = options;
  a->log_ = log;
  if (!options.metrics_file.empty()) {
    RETURN_IF_ERROR(PrepareOutputDir(options.metrics_file, "--metrics-file"));
  }
  // First undo what a killed agent left, so that the observer starts from
  // the system as it was.
  ASSIGN_OR_RETURN(a->enforcer_, Enforcer::Open(options.observer.state_dir, log, &a->recovered_));
  if (a->recovered_ && log) {
    log->Warning("undid " + std::to_string(a->recovered_) +
                 " changes left by an agent that did not exit");
  }
  for (const Rule& rule : policy.rules) {
    bool v2 = false;
    if (rule.action == ActionKind::kCpuIdle && CpuControllerRoot(&v2).empty()) {
      return FailedPrecondition(
          "rule " + rule.name +
          ": action cpu.idle needs a cpu cgroup controller (v1 cpu, or v2 with cpu); this "
          "host has none (use sched_idle)");
    }
  }
  ASSIGN_OR_RETURN(a->observer_, Observer::Start(options.observer, log));
  for (const Rule& rule : policy.rules) {
    RuleState s;
    s.rule = rule;
    ASSIGN_OR_RETURN(s.watch_id, a->observer_->TagId(rule.watch));
    ASSIGN_OR_RETURN(s.target_id, a->observer_->TagId(rule.target));
    s.window_start = a->observer_->ReadTags({s.watch_id});
    s.window_start_ns = s.window_start.at_ns;
    if (log) log->Info(rule.Describe());
    a->rules_.push_back(std::move(s));
  }
  return a;
}

Status Agent::Evaluate(RuleState& r, const Snapshot& now) {
  const Rule& rule = r.rule;
  const Snapshot window = now.Minus(r.window_start);
  r.window_start = now;
  const uint64_t window_ns = now.at_ns - r.window_start_ns;
  r.window_start_ns = now.at_ns;
  Stats watched;
  if (auto it = window.tags.find(r.watch_id); it != window.tags.end()) watched = it->second;
  const uint64_t samples = watched.runq.count;
  const bool enough = samples >= rule.min_samples;
  const uint64_t value = enough ? MetricValue(rule.metric, watched.runq) : 0;
  const double cpu =
      window_ns ? static_cast<double>(watched.cpu_ns) / static_cast<double>(window_ns) : 0;
  const uint64_t now_ns = now.at_ns;
  const std::string what = std::string(MetricName(rule.metric)) + " of " + rule.watch + " " +
                           FormatNs(value) + " over " + FormatNs(window_ns) + " (" +
                           std::to_string(samples) + " wake-ups, " +
                           std::to_string(static_cast<int>(cpu * 100 + 0.5)) + "% CPU)";
  if (!r.engaged) {
    if (!enough || value <= rule.above_ns) return Status::Ok();
    // Tripped soon after a restore: the protection was still needed.
    if (r.restored_at_ns && now_ns - r.restored_at_ns < 5 * rule.restore_after_ns * r.backoff) {
      r.backoff = std::min<uint32_t>(r.backoff * 2, 8);
    } else {
      r.backoff = 1;
    }
    auto tasks = observer_->tag_maps().TasksOf(r.target_id);
    ASSIGN_OR_RETURN(size_t n, enforcer_->Apply(rule, tasks));
    r.engaged = true;
    r.quiet_since_ns = 0;
    r.last_scan_ns = now_ns;
    ++r.engagements;
    if (log_) {
      log_->Warning("rule " + rule.name + " engaged: " + what + " > " + FormatNs(rule.above_ns) +
                    "; " + rule.target + " -> " + std::string(ActionName(rule.action)) + " (" +
                    std::to_string(n) +
                    (rule.action == ActionKind::kCpuIdle ? " processes)" : " threads)"));
    }
    return Status::Ok();
  }
  // Engaged: tasks that joined the target tag yield too (every 2 s; what
  // the target's tasks fork takes their policy, cgroup and affinity).
  if (now_ns - r.last_scan_ns >= 2'000'000'000) {
    r.last_scan_ns = now_ns;
    auto tasks = observer_->tag_maps().TasksOf(r.target_id);
    ASSIGN_OR_RETURN(size_t n, enforcer_->Apply(rule, tasks));
    if (n && log_)
      log_->Info("rule " + rule.name + ": " + std::to_string(n) + " new tasks of " + rule.target +
                 " yield too");
  }
  const bool low = !enough || value < rule.restore_below_ns;
  const bool idle = !rule.restore_cpu_below || cpu < *rule.restore_cpu_below;
  if (!low || !idle) {
    r.quiet_since_ns = 0;
    return Status::Ok();
  }
  if (!r.quiet_since_ns) r.quiet_since_ns = now_ns - window_ns;
  const uint64_t hold = rule.restore_after_ns * r.backoff;
  if (now_ns - r.quiet_since_ns < hold) return Status::Ok();
  ASSIGN_OR_RETURN(size_t n, enforcer_->Undo(rule.name));
  r.engaged = false;
  r.restored_at_ns = now_ns;
  r.quiet_since_ns = 0;
  if (log_) {
    std::string why = std::string(MetricName(rule.metric)) + " of " + rule.watch + " below " +
                      FormatNs(rule.restore_below_ns);
    if (rule.restore_cpu_below) {
      why += " and its CPU below " +
             std::to_string(static_cast<int>(*rule.restore_cpu_below * 100 + 0.5)) + "%";
    }
    log_->Warning("rule " + rule.name + " restored: " + why + " for " + FormatNs(hold) +
                  " (last window: " + what + "); " + std::to_string(n) + " changes undone");
  }
  return Status::Ok();
}

AgentStatus Agent::CurrentStatus() const {
  AgentStatus st;
  st.pid = ::getpid();
  st.updated_unix = static_cast<uint64_t>(::time(nullptr));
  for (const RuleState& r : rules_) {
    st.rules.push_back(
        {r.rule.name, r.engaged, r.engagements, enforcer_->EscapesTotal(r.rule.name)});
  }
  const uint64_t now_ns = MonotonicNs();
  for (const Escape& e : enforcer_->Escapes()) {
    st.escapes.push_back({e.rule, e.tgid, e.tid, e.comm, e.count,
                          e.last_ns && now_ns > e.last_ns ? (now_ns - e.last_ns) / 1000000000 : 0});
  }
  return st;
}

Status Agent::WriteMetrics(const Snapshot& now, bool up) {
  if (options_.metrics_file.empty()) return Status::Ok();
  std::string text = PrometheusText(now, observer_->store());
  text += std::string(
              "# HELP syspgo_sched_agent_up Whether the agent runs (0: it stopped and undid "
              "every change).\n"
              "# TYPE syspgo_sched_agent_up gauge\nsyspgo_sched_agent_up ") +
          (up ? "1" : "0") + "\n";
  text +=
      "# HELP syspgo_sched_rule_engaged Whether the rule's action is in force.\n"
      "# TYPE syspgo_sched_rule_engaged gauge\n";
  for (const RuleState& r : rules_) {
    text +=
        "syspgo_sched_rule_engaged{rule=\"" + r.rule.name + "\"} " + (r.engaged ? "1" : "0") + "\n";
  }
  text +=
      "# HELP syspgo_sched_rule_engagements_total Times the rule's action was put in force.\n"
      "# TYPE syspgo_sched_rule_engagements_total counter\n";
  for (const RuleState& r : rules_) {
    text += "syspgo_sched_rule_engagements_total{rule=\"" + r.rule.name + "\"} " +
            std::to_string(r.engagements) + "\n";
  }
  text +=
      "# HELP syspgo_sched_rule_escapes_total Times a task undid the rule's change and was put "
      "back.\n"
      "# TYPE syspgo_sched_rule_escapes_total counter\n";
  for (const RuleState& r : rules_) {
    text += "syspgo_sched_rule_escapes_total{rule=\"" + r.rule.name + "\"} " +
            std::to_string(enforcer_->EscapesTotal(r.rule.name)) + "\n";
  }
  text +=
      "# HELP syspgo_sched_task_escapes Put-backs of a task that keeps undoing an engaged rule's "
      "change (the 20 with most).\n"
      "# TYPE syspgo_sched_task_escapes gauge\n";
  const std::vector<Escape> escapes = enforcer_->Escapes();
  for (size_t i = 0; i < escapes.size() && i < 20; ++i) {
    const Escape& e = escapes[i];
    text += "syspgo_sched_task_escapes{rule=\"" + e.rule + "\",pid=\"" + std::to_string(e.tgid) +
            "\",tid=\"" + std::to_string(e.tid) + "\",comm=\"" + PrometheusLabelValue(e.comm) +
            "\"} " + std::to_string(e.count) + "\n";
  }
  return WriteFileAtomic(options_.metrics_file, text, 0644, false);
}

Status Agent::Step(uint64_t now_ns) {
  std::vector<uint32_t> watched;
  for (const RuleState& r : rules_) watched.push_back(r.watch_id);
  const Snapshot now = observer_->ReadTags(watched);
  for (RuleState& r : rules_) {
    if (now.at_ns - r.window_start_ns >= r.rule.window_ns) RETURN_IF_ERROR(Evaluate(r, now));
    // An engaged rule's tasks stay changed: every tick, those that undid
    // it are put back.
    if (r.engaged) RETURN_IF_ERROR(enforcer_->Enforce(r.rule, now_ns).status());
  }
  if (now_ns - last_sync_ns_ >= 1'000'000'000) {
    last_sync_ns_ = now_ns;
    Status st = observer_->SyncTags();
    if (!st.ok() && log_) log_->Warning(st.ToString());
    if (!options_.metrics_file.empty()) {
      st = WriteMetrics(observer_->Read());
      if (!st.ok() && log_) log_->Warning(st.ToString());
    }
    st = WriteAgentStatus(options_.observer.state_dir, CurrentStatus());
    if (!st.ok() && log_) log_->Warning(st.ToString());
  }
  return Status::Ok();
}

Status Agent::Run(const CancelToken& cancel) {
  uint64_t tick = 1'000'000'000;
  for (const RuleState& r : rules_) tick = std::min(tick, r.rule.window_ns);
  tick = std::max<uint64_t>(tick / 2, 5'000'000);
  last_sync_ns_ = MonotonicNs();
  Status result;
  while (!cancel.cancelled()) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(tick));
    result = Step(MonotonicNs());
    if (!result.ok()) break;
  }
  Status undo = enforcer_->UndoAll();
  RemoveAgentStatus(options_.observer.state_dir);
  // The last metrics say so: no rule is engaged any more.
  for (RuleState& r : rules_) r.engaged = false;
  if (!options_.metrics_file.empty()) {
    Status st = WriteMetrics(observer_->Read(), /*up=*/false);
    if (!st.ok() && log_) log_->Warning(st.ToString());
  }
  if (log_) {
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    log_->Info("agent stopped; every change undone" +
               std::string(undo.ok() ? "" : " (not all: " + undo.ToString() + ")") +
               "; its CPU time " +
               FormatNs(static_cast<uint64_t>(cpu.tv_sec) * 1000000000ull + cpu.tv_nsec));
  }
  return result.ok() ? undo : result;
}

}  // namespace syspgo::sched
