// SPDX-License-Identifier: Apache-2.0
// File: sched/tags.h
//
// Scheduling tags ("online", "batch", "latency:200us") on processes,
// threads and cgroups: the persisted store (what the user set, kept across
// agent restarts in /var/lib/syspgo/sched/tags.json, 0600) and its mirror
// in the pinned BPF maps of sched/sched.h that every BPF program of the
// project may read (/sys/fs/bpf/syspgo/sched_*).
//
// A task's tag is its thread's, else its process's, else its cgroup's (or
// the nearest tagged ancestor cgroup's, in the cgroup v2 hierarchy, which
// names every task's cgroup even on hybrid hosts without v2 controllers).
// A tag on a process or thread passes to what it forks: in the kernel while
// a syspgo BPF program is loaded, and from /proc (parent links) whenever the
// maps are synced, so descendants started while nothing was loaded are
// tagged too. Processes and threads are kept with their start time: a tag
// never passes to a reused pid.
//
// Threading: a TagStore and TagMaps are used by one thread; processes share
// the store through a lock file (flock).
#ifndef SYSPGO_SCHED_TAGS_H_
#define SYSPGO_SCHED_TAGS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

struct bpf_map;

namespace syspgo::sched {

inline constexpr char kDefaultStateDir[] = "/var/lib/syspgo/sched";
inline constexpr char kDefaultPinRoot[] = "/sys/fs/bpf/syspgo";

enum class TargetKind { kProcess, kThread, kCgroup };
std::string_view TargetKindName(TargetKind kind);

// What a tag is set on.
struct Target {
  TargetKind kind = TargetKind::kProcess;
  pid_t id = 0;                  // pid or tid
  uint64_t start_time = 0;       // its start time (/proc/ID/stat, clock ticks since boot)
  std::string cgroup;            // cgroup v2 path from the hierarchy's root ("/batch")
  uint64_t cgroup_id = 0;        // its id (inode) when set
  std::string Describe() const;  // "pid 42", "tid 43", "cgroup /batch"
};

struct TagEntry {
  Target target;
  std::string tag;
};

// Tag names: 1-63 of [a-z0-9] and "._:-", starting with a letter or digit.
Status ValidateTagName(std::string_view tag);

// Whether `target` (a process or thread) still runs as the same task.
bool TargetAlive(const Target& target);

// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup on v2 hosts,
// /sys/fs/cgroup/unified on hybrid ones); "" when it is not.
std::string CgroupV2Root();
// A cgroup given as an absolute directory inside the v2 hierarchy or as a
// path from its root ("/batch", as /proc/PID/cgroup writes it): its path
// from the root and its id.
Result<Target> ResolveCgroup(const std::string& path);
// A cgroup path and its ancestors up to the root, nearest first, at most
// SCHED_CGROUP_DEPTH + 1 of them: "/a/b" -> {"/a/b", "/a", "/"}.
std::vector<std::string> CgroupSelfAndAncestors(const std::string& path);

// The persisted tags.
class TagStore {
 public:
  // Reads dir/tags.json (dir made 0700 when missing). Mutations go through
  // Update, which holds dir/tags.lock while it reads, changes and writes.
  static Result<TagStore> Load(const std::string& dir);
  // Reads, lets `change` edit the entries, drops entries of tasks that no
  // longer run, and writes the result back (0600) under the lock.
  static Result<TagStore> Update(const std::string& dir,
                                 const std::function<Status(TagStore*)>& change);

  const std::vector<TagEntry>& entries() const { return entries_; }
  // The entry for a target (by pid/tid and start time, or cgroup path).
  const TagEntry* Find(const Target& target) const;
  // Sets or replaces the target's tag.
  void Set(const Target& target, const std::string& tag);
  // Removes it; false when there was none.
  bool Remove(const Target& target);
  // The number a tag name has in the BPF maps (made on first use: ids are
  // never reused, so a reading of the maps is never misattributed).
  uint32_t IdOf(const std::string& tag);
  std::optional<uint32_t> FindId(const std::string& tag) const;
  // The name of an id ("" for 0, untagged; "#N" for an unknown id).
  std::string NameOf(uint32_t id) const;
  const std::map<std::string, uint32_t>& ids() const { return ids_; }
  const std::string& path() const { return path_; }

 private:
  Status Parse(std::string_view json);
  std::string Serialize() const;
  void PruneDead();

  std::string path_;
  std::vector<TagEntry> entries_;
  std::map<std::string, uint32_t> ids_;
  uint32_t next_id_ = 1;
};

// The pinned tag maps (sched/sched.h): sched_task_tags, sched_cgroup_tags,
// sched_tag_generation.
class TagMaps {
 public:
  // Opens the maps pinned under pin_root; NotFound when no syspgo BPF
  // program has pinned them yet (the store still holds the tags).
  static Result<TagMaps> OpenPinned(const std::string& pin_root);
  // From a loaded object's maps (not owned: the object keeps them).
  static TagMaps FromFds(int task_tags_fd, int cgroup_tags_fd, int generation_fd);

  // Makes the maps say what the store says: set tags of live tasks and
  // cgroups written, stale ones removed, tags passed from tagged processes
  // to their descendants (from /proc parent links), the generation raised.
  // Tags the kernel passed on at fork stay while their tasks run; `fresh`
  // (a loader that just attached: nothing saw exits before) drops those
  // that /proc does not confirm.
  Status Sync(const TagStore& store, bool fresh = false);
  // The effective tag id of a thread (thread, process, cgroup and its
  // ancestors), as the kernel side computes it; 0 when untagged.
  uint32_t TagOfTask(pid_t tgid, pid_t tid) const;
  // Every process and thread whose effective tag is `tag`: (tgid, tid).
  std::vector<std::pair<pid_t, pid_t>> TasksOf(uint32_t tag) const;
  // Number of tags passed on at fork (kernel) or by Sync (from /proc).
  size_t InheritedCount() const;

 private:
  UniqueFd owned_[3];
  int task_fd_ = -1, cgroup_fd_ = -1, generation_fd_ = -1;
};

// The tag a thread has by the store alone (no BPF maps): its thread's, its
// process's or a parent process's (up the parent links), its cgroup's or an
// ancestor cgroup's. "" when untagged. `why` says which entry gave it.
std::string EffectiveTag(const TagStore& store, pid_t tgid, pid_t tid, std::string* why);

// The image label that tags a container's processes at `syspgo run`.
inline constexpr char kImageTagLabel[] = "io.syspgo.sched.tag";

// Sets a tag on a running process (persisted) and, when a syspgo BPF
// program pinned the maps under pin_root, mirrors it there at once (what
// the process forks from then on carries the tag).
Status TagProcess(const std::string& state_dir, const std::string& pin_root, pid_t pid,
                  const std::string& tag);
// The same for any target; a tag of "" removes the target's tag.
Status SetTag(const std::string& state_dir, const std::string& pin_root, const Target& target,
              const std::string& tag);

// Removes pinned tag maps whose layout is not this version's (an older
// syspgo pinned them), so that a loader can pin its own; true when it did.
bool RemoveStalePinnedMaps(const std::string& pin_root);

// Mounts the BPF file system on /sys/fs/bpf when nothing is (systemd does
// it at boot on most hosts), so that maps can be pinned.
Status EnsureBpfFs(const std::string& pin_root);

}  // namespace syspgo::sched

#endif  // SYSPGO_SCHED_TAGS_H_
