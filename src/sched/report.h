// SPDX-License-Identifier: Apache-2.0
// File: sched/report.h
//
// What the observer saw, for people and for Prometheus: `syspgo sched top`'s
// table (per tag, and the busiest cgroups) and the text exposition format
// (run-queue latency histograms per tag and per cgroup, CPU seconds,
// preemptions by victim and preempter tag).
#ifndef SYSPGO_SCHED_REPORT_H_
#define SYSPGO_SCHED_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "sched/observer.h"
#include "sched/tags.h"

namespace syspgo::sched {

// Cumulative readings in Prometheus' text format.
std::string PrometheusText(const Snapshot& cumulative, const TagStore& store,
                           const std::map<uint64_t, std::string>& cgroup_paths = {});
// A window (Snapshot::Minus) as a table; at most `max_cgroups` cgroups,
// busiest first.
std::string TopTable(const Snapshot& window, uint64_t window_ns, const TagStore& store,
                     const std::map<uint64_t, std::string>& cgroup_paths, size_t max_cgroups);
// Every cgroup v2 directory's id -> its path from the root (depth <= 8).
std::map<uint64_t, std::string> CgroupPaths();

}  // namespace syspgo::sched

#endif  // SYSPGO_SCHED_REPORT_H_
