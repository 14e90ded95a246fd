// SPDX-License-Identifier: Apache-2.0
#include "sched/observer.h"

#include <bpf/bpf.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bpf/bpf_util.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "sched.skel.h"

namespace syspgo::sched {
namespace {

Stats FromKernel(const sched_stats& k) {
  Stats s;
  for (uint32_t i = 0; i < SCHED_HIST_BUCKETS; ++i) s.runq.buckets[i] = k.hist[i];
  s.runq.count = k.runq_count;
  s.runq.sum_ns = k.runq_sum_ns;
  s.runq.max_ns = k.runq_max_ns;
  s.cpu_ns = k.cpu_ns;
  s.switches_in = k.switches_in;
  s.preempted = k.preempted;
  return s;
}

uint64_t Sub(uint64_t a, uint64_t b) { return a >= b ? a - b : 0; }

}  // namespace

Stats Stats::Minus(const Stats& e) const {
  Stats s;
  s.runq = runq.Minus(e.runq);
  s.cpu_ns = Sub(cpu_ns, e.cpu_ns);
  s.switches_in = Sub(switches_in, e.switches_in);
  s.preempted = Sub(preempted, e.preempted);
  return s;
}

Snapshot Snapshot::Minus(const Snapshot& e) const {
  Snapshot d;
  d.at_ns = at_ns;
  for (const auto& [id, s] : tags) {
    auto it = e.tags.find(id);
    d.tags[id] = it == e.tags.end() ? s : s.Minus(it->second);
  }
  for (const auto& [id, s] : cgroups) {
    auto it = e.cgroups.find(id);
    d.cgroups[id] = it == e.cgroups.end() ? s : s.Minus(it->second);
  }
  for (const auto& [k, n] : preemptions) {
    auto it = e.preemptions.find(k);
    d.preemptions[k] = it == e.preemptions.end() ? n : Sub(n, it->second);
  }
  d.counters = counters;
  return d;
}

struct Observer::Skeleton {
  bpf::SkeletonPtr<sched_bpf, sched_bpf__destroy> skel;
};

Observer::~Observer() = default;

Result<std::unique_ptr<Observer>> Observer::Start(const ObserverOptions& options,
                                                  const Logger* log) {
  bpf::RouteLibbpfLogs(log);
  RETURN_IF_ERROR(EnsureBpfFs(options.pin_root));
  RETURN_IF_ERROR(MakeDirs(options.pin_root, 0700));
  std::unique_ptr<Observer> o(new Observer());
  o->options_ = options;
  o->log_ = log;
  // Tag maps pinned by an older syspgo with another layout cannot be
  // reused (libbpf refuses the load): they go, and SyncTags below fills
  // the new ones from the store.
  if (RemoveStalePinnedMaps(options.pin_root) && log) {
    log->Info("replaced tag maps of an older layout in " + options.pin_root);
  }
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = options.pin_root.c_str());
  o->skel_ = std::make_unique<Skeleton>();
  o->skel_->skel.reset(sched_bpf__open_opts(&open_opts));
  if (!o->skel_->skel) return ErrnoStatus(errno, "open BPF object", "sched.bpf.o");
  sched_bpf* s = o->skel_->skel.get();
  const long ticks = ::sysconf(_SC_CLK_TCK);
  s->rodata->ns_per_tick = ticks > 0 ? 1000000000ull / static_cast<uint64_t>(ticks) : 10000000ull;
  if (int err = sched_bpf__load(s)) {
    return ErrnoStatus(-err, "load BPF programs",
                       "sched.bpf.o (tp_btf, task storage; kernel >= 5.11 with BTF)");
  }
  if (int err = sched_bpf__attach(s)) {
    return ErrnoStatus(-err, "attach BPF programs", "sched_wakeup/sched_switch/sched_process_fork");
  }
  o->maps_ =
      TagMaps::FromFds(bpf_map__fd(s->maps.sched_task_tags), bpf_map__fd(s->maps.sched_cgroup_tags),
                       bpf_map__fd(s->maps.sched_tag_generation));
  RETURN_IF_ERROR(o->SyncTags(/*force=*/true));
  return o;
}

Status Observer::SyncTags(bool force) {
  struct stat st {};
  const std::string path = JoinPath(options_.state_dir, "tags.json");
  if (::stat(path.c_str(), &st) != 0) st = {};
  const auto version =
      std::make_tuple(static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_mtim.tv_sec),
                      static_cast<int64_t>(st.st_mtim.tv_nsec), static_cast<int64_t>(st.st_size));
  if (!force && version == store_version_) return Status::Ok();
  ASSIGN_OR_RETURN(store_, TagStore::Load(options_.state_dir));
  store_version_ = version;
  return maps_.Sync(store_, /*fresh=*/force);
}

Result<uint32_t> Observer::TagId(const std::string& tag) {
  RETURN_IF_ERROR(ValidateTagName(tag));
  if (auto id = store_.FindId(tag)) return *id;
  uint32_t id = 0;
  ASSIGN_OR_RETURN(store_, TagStore::Update(options_.state_dir, [&](TagStore* s) {
                     id = s->IdOf(tag);
                     return Status::Ok();
                   }));
  return id;
}

Snapshot Observer::ReadTags(const std::vector<uint32_t>& tags) const {
  Snapshot snap;
  snap.at_ns = MonotonicNs();
  const int fd = bpf_map__fd(skel_->skel->maps.stats);
  for (uint32_t tag : tags) {
    const sched_stats_key key{SCHED_STATS_TAG, 0, tag};
    sched_stats value{};
    if (bpf_map_lookup_elem(fd, &key, &value) == 0) snap.tags[tag] = FromKernel(value);
  }
  snap.counters = skel_->skel->bss->counters;
  return snap;
}

Snapshot Observer::Read() const {
  Snapshot snap;
  snap.at_ns = MonotonicNs();
  sched_bpf* s = skel_->skel.get();
  bpf::ForEachEntry<sched_stats_key, sched_stats>(
      bpf_map__fd(s->maps.stats), [&](const sched_stats_key& k, const sched_stats& v) {
        if (k.kind == SCHED_STATS_TAG)
          snap.tags[static_cast<uint32_t>(k.id)] = FromKernel(v);
        else
          snap.cgroups[k.id] = FromKernel(v);
      });
  bpf::ForEachEntry<sched_pair_key, uint64_t>(bpf_map__fd(s->maps.preemptions),
                                              [&](const sched_pair_key& k, const uint64_t& n) {
                                                snap.preemptions[{k.victim, k.by}] = n;
                                              });
  snap.counters = s->bss->counters;
  return snap;
}

}  // namespace syspgo::sched
