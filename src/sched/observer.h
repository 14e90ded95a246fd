// SPDX-License-Identifier: Apache-2.0
// File: sched/observer.h
//
// Loads sched.bpf.c on the shared eBPF core: tp_btf sched_wakeup,
// sched_wakeup_new, sched_switch, sched_process_fork and sched_process_exit
// with task storage. Pins the tag maps (sched/tags.h) under the pin root,
// reusing ones already pinned, so that tags set by `syspgo sched tag` and
// by other loaders are the same maps; keeps them in step with the store.
// Readings are cumulative since load; a window is the difference of two.
//
// Threading: one thread drives an Observer.
#ifndef SYSPGO_SCHED_OBSERVER_H_
#define SYSPGO_SCHED_OBSERVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "sched/histogram.h"
#include "sched/sched.h"
#include "sched/tags.h"

namespace syspgo::sched {

struct Stats {
  Histogram runq;       // wakeup (or involuntary preemption) to running
  uint64_t cpu_ns = 0;  // on a CPU
  uint64_t switches_in = 0;
  uint64_t preempted = 0;  // involuntary switches out
  Stats Minus(const Stats& earlier) const;
};

struct Snapshot {
  uint64_t at_ns = 0;                                             // CLOCK_MONOTONIC of the reading
  std::map<uint32_t, Stats> tags;                                 // by tag id (0: untagged)
  std::map<uint64_t, Stats> cgroups;                              // by cgroup v2 id
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> preemptions;  // (victim, by) tags
  sched_counters counters{};
  // What happened between `earlier` and this reading.
  Snapshot Minus(const Snapshot& earlier) const;
};

struct ObserverOptions {
  std::string state_dir = kDefaultStateDir;  // the tag store
  std::string pin_root = kDefaultPinRoot;    // where the tag maps are pinned
};

class Observer {
 public:
  static Result<std::unique_ptr<Observer>> Start(const ObserverOptions& options, const Logger* log);
  ~Observer();
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  Snapshot Read() const;
  // Only the given tags' statistics (a few map lookups: what the agent
  // needs every window).
  Snapshot ReadTags(const std::vector<uint32_t>& tags) const;
  // When the store changed (another process set a tag), reloads it and
  // syncs the maps with it; otherwise nothing (the kernel side keeps the
  // maps current through fork and exit). `force` syncs anyway.
  Status SyncTags(bool force = false);
  const TagStore& store() const { return store_; }
  const TagMaps& tag_maps() const { return maps_; }
  // The tag's id, made in the store when it has none yet.
  Result<uint32_t> TagId(const std::string& tag);

 private:
  Observer() = default;
  struct Skeleton;
  std::unique_ptr<Skeleton> skel_;
  ObserverOptions options_;
  const Logger* log_ = nullptr;
  TagStore store_;
  TagMaps maps_;
  std::tuple<uint64_t, int64_t, int64_t, int64_t> store_version_{};  // inode, mtime s, ns, size
};

}  // namespace syspgo::sched

#endif  // SYSPGO_SCHED_OBSERVER_H_
