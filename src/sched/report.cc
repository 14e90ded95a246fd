// SPDX-License-Identifier: Apache-2.0
#include "sched/report.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>

#include "common/file_util.h"
#include "common/prometheus.h"

namespace syspgo::sched {
namespace {

// Prometheus `le` bounds, in seconds (each an exact bucket edge of ours
// would be finer; these are the usual latency ladder).
constexpr uint64_t kLeNs[] = {5'000,      10'000,     25'000,     50'000,    100'000,
                              200'000,    500'000,    1'000'000,  2'000'000, 5'000'000,
                              10'000'000, 50'000'000, 100'000'000};

std::string Seconds(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(ns) / 1e9);
  return buf;
}

void HistogramLines(std::string* out, const std::string& name, const std::string& labels,
                    const Stats& s) {
  for (uint64_t le : kLeNs) {
    *out += name + "_bucket{" + labels + ",le=\"" + Seconds(le) + "\"} " +
            std::to_string(s.runq.CountAtMost(le)) + "\n";
  }
  *out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(s.runq.count) + "\n";
  *out += name + "_sum{" + labels + "} " + Seconds(s.runq.sum_ns) + "\n";
  *out += name + "_count{" + labels + "} " + std::to_string(s.runq.count) + "\n";
}

std::string TagLabel(const TagStore& store, uint32_t id) {
  const std::string name = store.NameOf(id);
  return name.empty() ? "(none)" : name;
}

}  // namespace

std::map<uint64_t, std::string> CgroupPaths() {
  std::map<uint64_t, std::string> out;
  const std::string root = CgroupV2Root();
  if (root.empty()) return out;
  std::function<void(const std::string&, int)> walk = [&](const std::string& rel, int depth) {
    const std::string dir = rel == "/" ? root : root + rel;
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return;
    out[st.st_ino] = rel;
    if (depth >= 8) return;
    auto names = ListDir(dir);
    if (!names.ok()) return;
    for (const std::string& n : *names) {
      const std::string child = dir + "/" + n;
      struct stat cst;
      if (::lstat(child.c_str(), &cst) == 0 && S_ISDIR(cst.st_mode))
        walk(rel == "/" ? "/" + n : rel + "/" + n, depth + 1);
    }
  };
  walk("/", 0);
  return out;
}

std::string PrometheusText(const Snapshot& s, const TagStore& store,
                           const std::map<uint64_t, std::string>& paths) {
  std::string out;
  out +=
      "# HELP syspgo_sched_runq_latency_seconds Wake-up (or preemption) to running, per tag.\n"
      "# TYPE syspgo_sched_runq_latency_seconds histogram\n";
  for (const auto& [id, st] : s.tags) {
    HistogramLines(&out, "syspgo_sched_runq_latency_seconds",
                   "tag=\"" + PrometheusLabelValue(TagLabel(store, id)) + "\"", st);
  }
  out +=
      "# HELP syspgo_sched_cpu_seconds_total Time on a CPU, per tag.\n"
      "# TYPE syspgo_sched_cpu_seconds_total counter\n";
  for (const auto& [id, st] : s.tags) {
    out += "syspgo_sched_cpu_seconds_total{tag=\"" + PrometheusLabelValue(TagLabel(store, id)) +
           "\"} " + Seconds(st.cpu_ns) + "\n";
  }
  out +=
      "# HELP syspgo_sched_preempted_total Involuntary switches out, per tag.\n"
      "# TYPE syspgo_sched_preempted_total counter\n";
  for (const auto& [id, st] : s.tags) {
    out += "syspgo_sched_preempted_total{tag=\"" + PrometheusLabelValue(TagLabel(store, id)) +
           "\"} " + std::to_string(st.preempted) + "\n";
  }
  out +=
      "# HELP syspgo_sched_preemptions_total Involuntary preemptions by the victim's and the next "
      "task's tag.\n"
      "# TYPE syspgo_sched_preemptions_total counter\n";
  for (const auto& [k, n] : s.preemptions) {
    out += "syspgo_sched_preemptions_total{victim=\"" +
           PrometheusLabelValue(TagLabel(store, k.first)) + "\",by=\"" +
           PrometheusLabelValue(TagLabel(store, k.second)) + "\"} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP syspgo_sched_cgroup_runq_latency_seconds Wake-up (or preemption) to running, per "
      "cgroup v2.\n"
      "# TYPE syspgo_sched_cgroup_runq_latency_seconds histogram\n";
  for (const auto& [id, st] : s.cgroups) {
    auto p = paths.find(id);
    const std::string label =
        "cgroup=\"" +
        PrometheusLabelValue(p != paths.end() ? p->second : "#" + std::to_string(id)) + "\"";
    HistogramLines(&out, "syspgo_sched_cgroup_runq_latency_seconds", label, st);
  }
  out +=
      "# HELP syspgo_sched_cgroup_cpu_seconds_total Time on a CPU, per cgroup v2.\n"
      "# TYPE syspgo_sched_cgroup_cpu_seconds_total counter\n";
  for (const auto& [id, st] : s.cgroups) {
    auto p = paths.find(id);
    out += "syspgo_sched_cgroup_cpu_seconds_total{cgroup=\"" +
           PrometheusLabelValue(p != paths.end() ? p->second : "#" + std::to_string(id)) + "\"} " +
           Seconds(st.cpu_ns) + "\n";
  }
  out +=
      "# HELP syspgo_sched_lost_total Events the observer's maps could not take.\n"
      "# TYPE syspgo_sched_lost_total counter\n";
  out += "syspgo_sched_lost_total{what=\"stats\"} " + std::to_string(s.counters.lost_stats) + "\n";
  out += "syspgo_sched_lost_total{what=\"tags\"} " + std::to_string(s.counters.lost_tags) + "\n";
  out += "syspgo_sched_lost_total{what=\"pairs\"} " + std::to_string(s.counters.lost_pairs) + "\n";
  return out;
}

std::string TopTable(const Snapshot& w, uint64_t window_ns, const TagStore& store,
                     const std::map<uint64_t, std::string>& paths, size_t max_cgroups) {
  std::string out;
  char line[512];
  auto row = [&](const std::string& name, const Stats& st) {
    const double cpu =
        window_ns ? 100.0 * static_cast<double>(st.cpu_ns) / static_cast<double>(window_ns) : 0;
    std::snprintf(line, sizeof(line), "%-28.28s %6.1f %8llu %9s %9s %9s %9s %8llu\n", name.c_str(),
                  cpu, static_cast<unsigned long long>(st.runq.count),
                  FormatNs(st.runq.Quantile(0.5)).c_str(), FormatNs(st.runq.Quantile(0.99)).c_str(),
                  FormatNs(st.runq.Quantile(0.999)).c_str(),
                  FormatNs(static_cast<uint64_t>(st.runq.MeanNs())).c_str(),
                  static_cast<unsigned long long>(st.preempted));
    out += line;
  };
  std::snprintf(line, sizeof(line), "%-28s %6s %8s %9s %9s %9s %9s %8s\n", "TAG", "CPU%", "WAKEUPS",
                "RUNQ-P50", "RUNQ-P99", "P99.9", "MEAN", "PREEMPT");
  out += line;
  for (const auto& [id, st] : w.tags) row(TagLabel(store, id), st);
  // Who preempted whom, most first.
  std::vector<std::pair<uint64_t, std::pair<uint32_t, uint32_t>>> pairs;
  for (const auto& [k, n] : w.preemptions) {
    if (n) pairs.push_back({n, k});
  }
  std::sort(pairs.rbegin(), pairs.rend());
  if (!pairs.empty()) {
    out += "\nPREEMPTED              BY                     TIMES\n";
    for (size_t i = 0; i < pairs.size() && i < 8; ++i) {
      std::snprintf(line, sizeof(line), "%-22.22s %-22.22s %llu\n",
                    TagLabel(store, pairs[i].second.first).c_str(),
                    TagLabel(store, pairs[i].second.second).c_str(),
                    static_cast<unsigned long long>(pairs[i].first));
      out += line;
    }
  }
  if (max_cgroups) {
    std::vector<std::pair<uint64_t, uint64_t>> busy;  // cpu_ns, id
    for (const auto& [id, st] : w.cgroups) {
      if (st.cpu_ns || st.runq.count) busy.push_back({st.cpu_ns, id});
    }
    std::sort(busy.rbegin(), busy.rend());
    if (!busy.empty()) {
      std::snprintf(line, sizeof(line), "\n%-28s %6s %8s %9s %9s %9s %9s %8s\n", "CGROUP (v2)",
                    "CPU%", "WAKEUPS", "RUNQ-P50", "RUNQ-P99", "P99.9", "MEAN", "PREEMPT");
      out += line;
      for (size_t i = 0; i < busy.size() && i < max_cgroups; ++i) {
        auto p = paths.find(busy[i].second);
        row(p != paths.end() ? p->second : "#" + std::to_string(busy[i].second),
            w.cgroups.at(busy[i].second));
      }
    }
  }
  return out;
}

}  // namespace syspgo::sched
