// SPDX-License-Identifier: Apache-2.0
#include "sched/tags.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <set>

#include <nlohmann/json.hpp>

#include "bpf/bpf_util.h"
#include "common/file_util.h"
#include "common/mount.h"
#include "common/procfs.h"
#include "sched/sched.h"

namespace syspgo::sched {
namespace {

// The tag of the cgroup v2 path `cgroup` (below the hierarchy mounted at
// `root`): its own or its nearest tagged ancestor's, as the BPF side
// inherits them; 0 when none has one. `tag_of` looks a cgroup id up.
uint32_t NearestCgroupTag(const std::string& root, const std::string& cgroup,
                          const std::function<bool(uint64_t, uint32_t*)>& tag_of) {
  for (const std::string& path : CgroupSelfAndAncestors(cgroup)) {
    auto id = bpf::CgroupId(path == "/" ? root : root + path);
    uint32_t tag = 0;
    if (id.ok() && tag_of(*id, &tag)) return tag;
  }
  return 0;
}

Result<UniqueFd> OpenPinnedMap(const std::string& path) {
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("no pinned map " + path);
    return ErrnoStatus(err, "open pinned map", path);
  }
  return UniqueFd::Adopt(fd);
}

}  // namespace

std::string_view TargetKindName(TargetKind kind) {
  switch (kind) {
    case TargetKind::kProcess:
      return "pid";
    case TargetKind::kThread:
      return "tid";
    case TargetKind::kCgroup:
      return "cgroup";
  }
  return "?";
}

std::string Target::Describe() const {
  if (kind == TargetKind::kCgroup) return "cgroup " + cgroup;
  return std::string(TargetKindName(kind)) + " " + std::to_string(id);
}

Status ValidateTagName(std::string_view tag) {
  if (tag.empty() || tag.size() > 63)
    return InvalidArgument("a tag has 1 to 63 characters: '" + std::string(tag) + "'");
  for (size_t i = 0; i < tag.size(); ++i) {
    const char c = tag[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != ':' && c != '-'))) {
      return InvalidArgument("tag '" + std::string(tag) +
                             "': use lower-case letters, digits and . _ : - (not first)");
    }
  }
  return Status::Ok();
}

bool TargetAlive(const Target& t) {
  if (t.kind == TargetKind::kCgroup) {
    auto r = ResolveCgroup(t.cgroup);
    return r.ok() && r->cgroup_id == t.cgroup_id;
  }
  auto st = ProcStartTime(t.id);
  if (!st.ok() || *st != t.start_time) return false;
  if (t.kind == TargetKind::kThread) return true;
  // A process: its tid is its pid (a thread's /proc/TID exists too, hidden).
  auto tgid = TgidOf(t.id);
  return tgid.ok() && *tgid == t.id;
}

std::vector<std::string> CgroupSelfAndAncestors(const std::string& path) {
  std::vector<std::string> out;
  std::string p = path.empty() ? "/" : path;
  for (int depth = 0; depth <= SCHED_CGROUP_DEPTH; ++depth) {
    out.push_back(p);
    if (p == "/") break;
    const size_t slash = p.rfind('/');
    p = slash == 0 ? "/" : p.substr(0, slash);
  }
  return out;
}

std::string CgroupV2Root() {
  for (const MountInfo& m : ReadMountInfo()) {
    if (m.fstype == "cgroup2" && m.root == "/") return m.mount_point;
  }
  return "";
}

Result<Target> ResolveCgroup(const std::string& path) {
  const std::string root = CgroupV2Root();
  if (root.empty()) return FailedPrecondition("no cgroup v2 hierarchy is mounted");
  if (path.empty() || path[0] != '/')
    return InvalidArgument("cgroup '" + path + "': give an absolute path");
  std::string rel = path;
  if (path == root) {
    rel = "/";
  } else if (path.starts_with(root + "/")) {
    rel = path.substr(root.size());
  } else if (path.starts_with("/sys/fs/cgroup/")) {
    return InvalidArgument(
        "cgroup '" + path + "' is not in the cgroup v2 hierarchy (" + root +
        "); tags name v2 cgroups (a path from its root, as /proc/PID/cgroup's 0:: line)");
  }
  for (std::string_view part : SplitPath(rel)) {
    if (part == ".." || part == ".")
      return InvalidArgument("cgroup '" + path + "': no . or .. parts");
  }
  Target t;
  t.kind = TargetKind::kCgroup;
  t.cgroup = rel;
  ASSIGN_OR_RETURN(t.cgroup_id, bpf::CgroupId(rel == "/" ? root : root + rel));
  return t;
}

// ---- TagStore ----

Status TagStore::Parse(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corruption(path_ + ": not a JSON object");
  try {
    if (j.contains("ids")) {
      for (auto& [name, id] : j["ids"].items()) {
        RETURN_IF_ERROR(ValidateTagName(name).WithContext(path_));
        const uint32_t v = id.get<uint32_t>();
        if (v == 0) return Corruption(path_ + ": tag id 0 is reserved");
        ids_[name] = v;
        next_id_ = std::max(next_id_, v + 1);
      }
    }
    if (j.contains("next_id")) next_id_ = std::max(next_id_, j["next_id"].get<uint32_t>());
    for (const auto& e : j.value("tags", nlohmann::json::array())) {
      TagEntry entry;
      entry.tag = e.at("tag").get<std::string>();
      RETURN_IF_ERROR(ValidateTagName(entry.tag).WithContext(path_));
      const std::string kind = e.at("kind").get<std::string>();
      if (kind == "cgroup") {
        entry.target.kind = TargetKind::kCgroup;
        entry.target.cgroup = e.at("cgroup").get<std::string>();
        entry.target.cgroup_id = e.at("cgroup_id").get<uint64_t>();
      } else if (kind == "pid" || kind == "tid") {
        entry.target.kind = kind == "pid" ? TargetKind::kProcess : TargetKind::kThread;
        entry.target.id = e.at("id").get<pid_t>();
        entry.target.start_time = e.at("start_time").get<uint64_t>();
      } else {
        return Corruption(path_ + ": unknown kind '" + kind + "'");
      }
      if (!ids_.count(entry.tag)) ids_[entry.tag] = next_id_++;
      entries_.push_back(std::move(entry));
    }
  } catch (const nlohmann::json::exception& e) {
    return Corruption(path_ + ": " + e.what());
  }
  return Status::Ok();
}

std::string TagStore::Serialize() const {
  nlohmann::json j;
  j["ids"] = nlohmann::json::object();
  for (const auto& [name, id] : ids_) j["ids"][name] = id;
  j["next_id"] = next_id_;
  j["tags"] = nlohmann::json::array();
  for (const TagEntry& e : entries_) {
    nlohmann::json o;
    o["kind"] = std::string(TargetKindName(e.target.kind));
    if (e.target.kind == TargetKind::kCgroup) {
      o["cgroup"] = e.target.cgroup;
      o["cgroup_id"] = e.target.cgroup_id;
    } else {
      o["id"] = e.target.id;
      o["start_time"] = e.target.start_time;
    }
    o["tag"] = e.tag;
    j["tags"].push_back(std::move(o));
  }
  return j.dump(1) + "\n";
}

Result<TagStore> TagStore::Load(const std::string& dir) {
  RETURN_IF_ERROR(MakePrivateDir(dir));
  TagStore s;
  s.path_ = JoinPath(dir, "tags.json");
  auto text = ReadFileToString(s.path_, 16 << 20);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return s;
    return text.status();
  }
  RETURN_IF_ERROR(s.Parse(*text));
  return s;
}

Result<TagStore> TagStore::Update(const std::string& dir,
                                  const std::function<Status(TagStore*)>& change) {
  RETURN_IF_ERROR(MakePrivateDir(dir));
  const std::string lock_path = JoinPath(dir, "tags.lock");
  ASSIGN_OR_RETURN(UniqueFd lock, UniqueFd::Open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (::flock(lock.get(), LOCK_EX) != 0) return ErrnoStatus(errno, "lock", lock_path);
  ASSIGN_OR_RETURN(TagStore s, Load(dir));
  RETURN_IF_ERROR(change(&s));
  s.PruneDead();
  RETURN_IF_ERROR(WriteFileAtomic(s.path_, s.Serialize(), 0600));
  return s;
}

const TagEntry* TagStore::Find(const Target& t) const {
  for (const TagEntry& e : entries_) {
    if (e.target.kind != t.kind) continue;
    if (t.kind == TargetKind::kCgroup
            ? e.target.cgroup == t.cgroup
            : (e.target.id == t.id && e.target.start_time == t.start_time)) {
      return &e;
    }
  }
  return nullptr;
}

void TagStore::Set(const Target& t, const std::string& tag) {
  IdOf(tag);
  for (TagEntry& e : entries_) {
    if (e.target.kind == t.kind &&
        (t.kind == TargetKind::kCgroup ? e.target.cgroup == t.cgroup : e.target.id == t.id)) {
      e.target = t;
      e.tag = tag;
      return;
    }
  }
  entries_.push_back({t, tag});
}

bool TagStore::Remove(const Target& t) {
  const size_t before = entries_.size();
  std::erase_if(entries_, [&](const TagEntry& e) {
    return e.target.kind == t.kind &&
           (t.kind == TargetKind::kCgroup ? e.target.cgroup == t.cgroup : e.target.id == t.id);
  });
  return entries_.size() != before;
}

uint32_t TagStore::IdOf(const std::string& tag) {
  auto it = ids_.find(tag);
  if (it != ids_.end()) return it->second;
  ids_[tag] = next_id_;
  return next_id_++;
}

std::optional<uint32_t> TagStore::FindId(const std::string& tag) const {
  auto it = ids_.find(tag);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::string TagStore::NameOf(uint32_t id) const {
  if (id == 0) return "";
  for (const auto& [name, v] : ids_) {
    if (v == id) return name;
  }
  return "#" + std::to_string(id);
}

void TagStore::PruneDead() {
  std::erase_if(entries_, [](const TagEntry& e) { return !TargetAlive(e.target); });
}

// ---- TagMaps ----

namespace {

constexpr const char* kTagMapNames[3] = {"sched_task_tags", "sched_cgroup_tags",
                                         "sched_tag_generation"};
// Each map's key and value size in this version's layout (sched/sched.h).
constexpr std::pair<uint32_t, uint32_t> kTagMapSizes[3] = {
    {sizeof(sched_task_key), sizeof(sched_tag_value)},
    {sizeof(uint64_t), sizeof(uint32_t)},
    {sizeof(uint32_t), sizeof(uint64_t)}};

// Whether a pinned map has this version's layout.
bool SameLayout(int fd, int i) {
  bpf_map_info info = {};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return false;
  return info.key_size == kTagMapSizes[i].first && info.value_size == kTagMapSizes[i].second;
}

}  // namespace

bool RemoveStalePinnedMaps(const std::string& pin_root) {
  bool removed = false;
  for (int i = 0; i < 3; ++i) {
    const std::string path = JoinPath(pin_root, kTagMapNames[i]);
    auto fd = OpenPinnedMap(path);
    if (!fd.ok() || SameLayout(fd->get(), i)) continue;
    // Programs that use it keep their reference; the next load pins anew.
    removed = ::unlink(path.c_str()) == 0 || removed;
  }
  return removed;
}

Result<TagMaps> TagMaps::OpenPinned(const std::string& pin_root) {
  TagMaps m;
  for (int i = 0; i < 3; ++i) {
    const std::string path = JoinPath(pin_root, kTagMapNames[i]);
    ASSIGN_OR_RETURN(m.owned_[i], OpenPinnedMap(path));
    if (!SameLayout(m.owned_[i].get(), i)) {
      return NotFound(path + " has an older layout (the next syspgo BPF program replaces it)");
    }
  }
  m.task_fd_ = m.owned_[0].get();
  m.cgroup_fd_ = m.owned_[1].get();
  m.generation_fd_ = m.owned_[2].get();
  return m;
}

TagMaps TagMaps::FromFds(int task_tags_fd, int cgroup_tags_fd, int generation_fd) {
  TagMaps m;
  m.task_fd_ = task_tags_fd;
  m.cgroup_fd_ = cgroup_tags_fd;
  m.generation_fd_ = generation_fd;
  return m;
}

Status TagMaps::Sync(const TagStore& store, bool fresh) {
  // What the store says, for live targets: (id, kind) -> (tag, start time).
  std::map<std::pair<uint32_t, uint32_t>, std::pair<uint32_t, uint64_t>> want_tasks;
  std::map<uint64_t, uint32_t> want_cgroups;
  for (const TagEntry& e : store.entries()) {
    if (!TargetAlive(e.target)) continue;
    const uint32_t tag = *store.FindId(e.tag);
    if (e.target.kind == TargetKind::kCgroup) {
      want_cgroups[e.target.cgroup_id] = tag;
    } else {
      want_tasks[{static_cast<uint32_t>(e.target.id),
                  e.target.kind == TargetKind::kThread ? SCHED_KIND_THREAD : SCHED_KIND_PROCESS}] =
          {tag, e.target.start_time};
    }
  }
  // Descendants of tagged processes (parent links in /proc), and every
  // process's start time.
  std::map<pid_t, pid_t> parent;
  std::map<pid_t, uint64_t> started;
  for (pid_t pid : ListProcesses()) {
    auto st = ReadProcStat(pid);
    if (!st.ok()) continue;
    parent[pid] = st->parent;
    started[pid] = st->start_time;
  }
  std::map<uint32_t, uint32_t> process_tag;  // tgid -> tag (set, or inherited in the kernel)
  for (const auto& [key, want] : want_tasks) {
    if (key.second == SCHED_KIND_PROCESS) process_tag[key.first] = want.first;
  }
  std::map<std::pair<uint32_t, uint32_t>, sched_tag_value> current;
  bpf::ForEachEntry<sched_task_key, sched_tag_value>(
      task_fd_, [&](const sched_task_key& k, const sched_tag_value& v) {
        current[{k.id, k.kind}] = v;
      });
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> inherit;  // (id, kind) -> tag
  for (const auto& [pid, pp] : parent) {
    if (process_tag.count(static_cast<uint32_t>(pid))) continue;
    pid_t p = pp;
    for (int depth = 0; depth < 64 && p > 1; ++depth) {
      auto it = process_tag.find(static_cast<uint32_t>(p));
      if (it != process_tag.end()) {
        inherit[{static_cast<uint32_t>(pid), SCHED_KIND_PROCESS}] = it->second;
        break;
      }
      auto up = parent.find(p);
      if (up == parent.end()) break;
      p = up->second;
    }
  }
  // Write: set entries (flags 0) and inherited ones; drop set entries the
  // store no longer has and inherited ones of tasks that are gone or whose
  // ancestors lost their tag.
  for (const auto& [key, want] : want_tasks) {
    const sched_task_key k{key.first, key.second};
    const sched_tag_value v{want.first, 0, want.second};
    if (bpf_map_update_elem(task_fd_, &k, &v, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "update map", "sched_task_tags");
    }
  }
  for (const auto& [key, tag] : inherit) {
    const sched_task_key k{key.first, key.second};
    const sched_tag_value v{tag, SCHED_TAG_INHERITED, started[static_cast<pid_t>(key.first)]};
    (void)bpf_map_update_elem(task_fd_, &k, &v, BPF_ANY);  // full: the kernel counts it too
  }
  for (const auto& [key, value] : current) {
    if (want_tasks.count(key) || inherit.count(key)) continue;
    // A tag passed on at fork stays while its task lives (as a scheduling
    // policy does), unless nothing tracked exits meanwhile (`fresh`); an
    // entry whose pid another task has now goes.
    const bool inherited = value.flags & SCHED_TAG_INHERITED;
    if (inherited && !fresh && SameTask(static_cast<pid_t>(key.first), value.start_time)) continue;
    const sched_task_key k{key.first, key.second};
    bpf_map_delete_elem(task_fd_, &k);
  }
  std::set<uint64_t> have_cgroups;
  bpf::ForEachEntry<uint64_t, uint32_t>(
      cgroup_fd_, [&](const uint64_t& id, const uint32_t&) { have_cgroups.insert(id); });
  for (const auto& [id, tag] : want_cgroups) {
    if (bpf_map_update_elem(cgroup_fd_, &id, &tag, BPF_ANY) != 0) {
      return ErrnoStatus(errno, "update map", "sched_cgroup_tags");
    }
  }
  for (uint64_t id : have_cgroups) {
    if (!want_cgroups.count(id)) bpf_map_delete_elem(cgroup_fd_, &id);
  }
  const uint32_t zero = 0;
  uint64_t gen = 0;
  (void)bpf_map_lookup_elem(generation_fd_, &zero, &gen);
  ++gen;
  if (bpf_map_update_elem(generation_fd_, &zero, &gen, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "update map", "sched_tag_generation");
  }
  return Status::Ok();
}

uint32_t TagMaps::TagOfTask(pid_t tgid, pid_t tid) const {
  sched_tag_value v{};
  sched_task_key k{static_cast<uint32_t>(tid), SCHED_KIND_THREAD};
  if (bpf_map_lookup_elem(task_fd_, &k, &v) == 0 && SameTask(tid, v.start_time)) return v.tag;
  k = {static_cast<uint32_t>(tgid), SCHED_KIND_PROCESS};
  if (bpf_map_lookup_elem(task_fd_, &k, &v) == 0 && SameTask(tgid, v.start_time)) return v.tag;
  auto cg = CgroupOf(tid == tgid ? tgid : tid, "");
  const std::string root = CgroupV2Root();
  if (!cg.ok() || root.empty()) return 0;
  return NearestCgroupTag(root, *cg, [&](uint64_t id, uint32_t* tag) {
    return bpf_map_lookup_elem(cgroup_fd_, &id, tag) == 0;
  });
}

std::vector<std::pair<pid_t, pid_t>> TagMaps::TasksOf(uint32_t tag) const {
  // (id, kind) -> tag, for entries whose task still has the pid.
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> tasks;
  bpf::ForEachEntry<sched_task_key, sched_tag_value>(
      task_fd_, [&](const sched_task_key& k, const sched_tag_value& v) {
        if (SameTask(static_cast<pid_t>(k.id), v.start_time)) tasks[{k.id, k.kind}] = v.tag;
      });
  std::map<uint64_t, uint32_t> cgroups;
  bpf::ForEachEntry<uint64_t, uint32_t>(
      cgroup_fd_, [&](const uint64_t& id, const uint32_t& t) { cgroups[id] = t; });
  const std::string root = CgroupV2Root();
  std::map<std::string, uint32_t> by_path;  // cgroup path -> effective tag
  auto cgroup_tag = [&](pid_t pid) -> uint32_t {
    if (cgroups.empty() || root.empty()) return 0;
    auto cg = CgroupOf(pid, "");
    if (!cg.ok()) return 0;
    auto cached = by_path.find(*cg);
    if (cached != by_path.end()) return cached->second;
    const uint32_t found = NearestCgroupTag(root, *cg, [&](uint64_t id, uint32_t* its) {
      auto it = cgroups.find(id);
      if (it == cgroups.end()) return false;
      *its = it->second;
      return true;
    });
    by_path[*cg] = found;
    return found;
  };
  std::vector<std::pair<pid_t, pid_t>> out;
  for (pid_t pid : ListProcesses()) {
    auto p = tasks.find({static_cast<uint32_t>(pid), SCHED_KIND_PROCESS});
    const uint32_t ptag = p != tasks.end() ? p->second : cgroup_tag(pid);
    for (pid_t tid : ListThreads(pid)) {
      auto t = tasks.find({static_cast<uint32_t>(tid), SCHED_KIND_THREAD});
      if ((t != tasks.end() ? t->second : ptag) == tag) out.emplace_back(pid, tid);
    }
  }
  return out;
}

size_t TagMaps::InheritedCount() const {
  size_t n = 0;
  bpf::ForEachEntry<sched_task_key, sched_tag_value>(
      task_fd_, [&](const sched_task_key& k, const sched_tag_value& v) {
        if ((v.flags & SCHED_TAG_INHERITED) && SameTask(static_cast<pid_t>(k.id), v.start_time))
          ++n;
      });
  return n;
}

std::string EffectiveTag(const TagStore& store, pid_t tgid, pid_t tid, std::string* why) {
  auto find = [&](TargetKind kind, pid_t id) -> const TagEntry* {
    auto start = ProcStartTime(id);
    if (!start.ok()) return nullptr;
    Target t;
    t.kind = kind;
    t.id = id;
    t.start_time = *start;
    return store.Find(t);
  };
  if (const TagEntry* e = find(TargetKind::kThread, tid)) {
    *why = "set on tid " + std::to_string(tid);
    return e->tag;
  }
  pid_t p = tgid;
  for (int depth = 0; depth < 64 && p > 0; ++depth) {
    if (const TagEntry* e = find(TargetKind::kProcess, p)) {
      *why =
          p == tgid ? "set on pid " + std::to_string(p) : "inherited from pid " + std::to_string(p);
      return e->tag;
    }
    auto st = ReadProcStat(p);
    if (!st.ok() || st->parent == p) break;
    p = st->parent;
  }
  auto cg = CgroupOf(tid, "");
  if (!cg.ok()) return "";
  for (const std::string& path : CgroupSelfAndAncestors(*cg)) {
    for (const TagEntry& e : store.entries()) {
      if (e.target.kind == TargetKind::kCgroup && e.target.cgroup == path) {
        *why = "from cgroup " + path;
        return e.tag;
      }
    }
  }
  return "";
}

Status SetTag(const std::string& state_dir, const std::string& pin_root, const Target& target,
              const std::string& tag) {
  if (!tag.empty()) RETURN_IF_ERROR(ValidateTagName(tag));
  bool removed = true;
  ASSIGN_OR_RETURN(TagStore store, TagStore::Update(state_dir, [&](TagStore* s) {
                     if (tag.empty())
                       removed = s->Remove(target);
                     else
                       s->Set(target, tag);
                     return Status::Ok();
                   }));
  if (!removed) return NotFound(target.Describe() + " has no tag");
  auto maps = TagMaps::OpenPinned(pin_root);
  if (!maps.ok()) {
    if (maps.status().code() == StatusCode::kNotFound)
      return Status::Ok();  // the next loader syncs
    return maps.status();
  }
  return maps->Sync(store);
}

Status TagProcess(const std::string& state_dir, const std::string& pin_root, pid_t pid,
                  const std::string& tag) {
  Target t;
  t.kind = TargetKind::kProcess;
  t.id = pid;
  ASSIGN_OR_RETURN(t.start_time, ProcStartTime(pid));
  return SetTag(state_dir, pin_root, t, tag);
}

Status EnsureBpfFs(const std::string& pin_root) {
  const std::string mount_point = "/sys/fs/bpf";
  if (!pin_root.starts_with(mount_point + "/")) return Status::Ok();  // the caller's choice
  struct statfs fs;
  if (::statfs(mount_point.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC) return Status::Ok();
  if (::mount("bpf", mount_point.c_str(), "bpf", 0, "mode=0700") != 0) {
    return ErrnoStatus(errno, "mount the BPF file system on", mount_point);
  }
  return Status::Ok();
}

}  // namespace syspgo::sched
