// SPDX-License-Identifier: Apache-2.0
#include "sched/policy.h"

#include <cstdlib>
#include <map>
#include <set>

#include "common/cpu_list.h"
#include "common/file_util.h"
#include "sched/histogram.h"
#include "sched/tags.h"

namespace syspgo::sched {
namespace {

bool ParseMetric(std::string_view s, Metric* m) {
  static const std::map<std::string_view, Metric> kNames = {
      {"runq_p50", Metric::kP50},   {"runq_p90", Metric::kP90}, {"runq_p99", Metric::kP99},
      {"runq_p999", Metric::kP999}, {"runq_max", Metric::kMax}, {"runq_mean", Metric::kMean}};
  auto it = kNames.find(s);
  if (it == kNames.end()) return false;
  *m = it->second;
  return true;
}

}  // namespace

std::string_view MetricName(Metric m) {
  switch (m) {
    case Metric::kP50:
      return "runq_p50";
    case Metric::kP90:
      return "runq_p90";
    case Metric::kP99:
      return "runq_p99";
    case Metric::kP999:
      return "runq_p999";
    case Metric::kMax:
      return "runq_max";
    case Metric::kMean:
      return "runq_mean";
  }
  return "?";
}

std::string_view ActionName(ActionKind a) {
  switch (a) {
    case ActionKind::kSchedIdle:
      return "sched_idle";
    case ActionKind::kCpuIdle:
      return "cpu.idle";
    case ActionKind::kAffinity:
      return "affinity";
  }
  return "?";
}

std::string Rule::Describe() const {
  std::string s = "rule " + name + ": when " + std::string(MetricName(metric)) + " of " + watch +
                  " > " + FormatNs(above_ns) + " over " + FormatNs(window_ns) + ", " + target +
                  " -> " + std::string(ActionName(action));
  if (action == ActionKind::kAffinity) {
    s += " ";
    for (size_t i = 0; i < cpus.size(); ++i) s += (i ? "," : "") + std::to_string(cpus[i]);
  }
  s += "; restore after " + FormatNs(restore_after_ns) + " below " + FormatNs(restore_below_ns);
  if (restore_cpu_below)
    s += " with " + watch + " below " +
         std::to_string(static_cast<int>(*restore_cpu_below * 100 + 0.5)) + "% CPU";
  return s;
}

Result<Policy> ParsePolicy(std::string_view text, std::string_view source) {
  Policy policy;
  Rule* rule = nullptr;
  std::set<std::string> seen_keys;
  int line_no = 0;
  auto finish = [&]() -> Status {
    if (!rule) return Status::Ok();
    for (const char* k : {"watch", "when", "target", "action", "restore_below"}) {
      if (!seen_keys.count(k)) {
        return InvalidArgument(std::string(source) + ": rule " + rule->name + " has no '" + k +
                               "'");
      }
    }
    if (rule->watch == rule->target) {
      return InvalidArgument(std::string(source) + ": rule " + rule->name +
                             " watches and targets the same tag");
    }
    if (rule->restore_below_ns > rule->above_ns) {
      return InvalidArgument(std::string(source) + ": rule " + rule->name +
                             ": restore_below is above the 'when' threshold");
    }
    return Status::Ok();
  };
  for (std::string_view raw : SplitLines(text)) {
    ++line_no;
    const std::string where = std::string(source) + ":" + std::to_string(line_no);
    std::string_view line = raw;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = TrimSpace(line);
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']' || !line.starts_with("[rule ")) {
        return InvalidArgument(where + ": expected [rule NAME]");
      }
      RETURN_IF_ERROR(finish());
      const std::string name(TrimSpace(line.substr(6, line.size() - 7)));
      if (name.empty()) return InvalidArgument(where + ": a rule needs a name");
      for (const Rule& r : policy.rules) {
        if (r.name == name) return InvalidArgument(where + ": rule " + name + " is defined twice");
      }
      policy.rules.push_back(Rule{});
      rule = &policy.rules.back();
      rule->name = name;
      seen_keys.clear();
      continue;
    }
    if (!rule) return InvalidArgument(where + ": a key before any [rule NAME]");
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) return InvalidArgument(where + ": expected KEY = VALUE");
    const std::string key(TrimSpace(line.substr(0, eq)));
    const std::string value(TrimSpace(line.substr(eq + 1)));
    if (!seen_keys.insert(key).second)
      return InvalidArgument(where + ": '" + key + "' given twice");
    auto duration = [&](uint64_t* out) -> Status {
      if (!ParseDurationNs(value, out)) {
        return InvalidArgument(where + ": '" + value +
                               "' is not a duration (e.g. 200us, 100ms, 2s)");
      }
      return Status::Ok();
    };
    if (key == "watch" || key == "target") {
      RETURN_IF_ERROR(ValidateTagName(value).WithContext(where));
      (key == "watch" ? rule->watch : rule->target) = value;
    } else if (key == "when") {
      const size_t gt = value.find('>');
      if (gt == std::string::npos)
        return InvalidArgument(where + ": expected 'when = METRIC > DURATION'");
      const std::string metric(TrimSpace(std::string_view(value).substr(0, gt)));
      if (!ParseMetric(metric, &rule->metric)) {
        return InvalidArgument(where + ": unknown metric '" + metric +
                               "' (runq_p50, runq_p90, runq_p99, runq_p999, runq_max, runq_mean)");
      }
      const std::string threshold(TrimSpace(std::string_view(value).substr(gt + 1)));
      if (!ParseDurationNs(threshold, &rule->above_ns) || rule->above_ns == 0) {
        return InvalidArgument(where + ": '" + threshold + "' is not a duration above 0");
      }
    } else if (key == "window") {
      RETURN_IF_ERROR(duration(&rule->window_ns));
      if (rule->window_ns < 10'000'000 || rule->window_ns > 60'000'000'000ull) {
        return InvalidArgument(where + ": window must be 10ms to 60s");
      }
    } else if (key == "min_samples") {
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end || v < 1)
        return InvalidArgument(where + ": min_samples must be a number >= 1");
      rule->min_samples = static_cast<uint64_t>(v);
    } else if (key == "action") {
      if (value == "sched_idle") {
        rule->action = ActionKind::kSchedIdle;
      } else if (value == "cpu.idle") {
        rule->action = ActionKind::kCpuIdle;
      } else if (value.starts_with("affinity ")) {
        rule->action = ActionKind::kAffinity;
        ASSIGN_OR_RETURN(rule->cpus, ParseCpuList(TrimSpace(std::string_view(value).substr(9))));
      } else {
        return InvalidArgument(where + ": unknown action '" + value +
                               "' (sched_idle, cpu.idle, affinity CPUS)");
      }
    } else if (key == "restore_below") {
      RETURN_IF_ERROR(duration(&rule->restore_below_ns));
    } else if (key == "restore_after") {
      RETURN_IF_ERROR(duration(&rule->restore_after_ns));
    } else if (key == "restore_cpu_below") {
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || std::string_view(end) != "%" || v < 0 || v > 100) {
        return InvalidArgument(where + ": restore_cpu_below is a percentage of one CPU (e.g. 5%)");
      }
      rule->restore_cpu_below = v / 100.0;
    } else {
      return InvalidArgument(where + ": unknown key '" + key + "'");
    }
  }
  RETURN_IF_ERROR(finish());
  if (policy.rules.empty())
    return InvalidArgument(std::string(source) + ": no [rule NAME] in the policy");
  return policy;
}

Result<Policy> LoadPolicy(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 1 << 20));
  return ParsePolicy(text, path);
}

}  // namespace syspgo::sched
