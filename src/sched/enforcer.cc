// SPDX-License-Identifier: Apache-2.0
#include "sched/enforcer.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <map>

#include "common/cpu_list.h"
#include "common/file_util.h"
#include "common/mount.h"
#include "common/procfs.h"
#include "sched/tags.h"

namespace syspgo::sched {
namespace {

// sched_setattr(2)'s argument (linux/sched/types.h, which clashes with
// glibc's sched.h).
struct sched_attr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};
constexpr uint64_t kResetOnFork = 0x01;  // kResetOnFork

int GetAttr(pid_t tid, sched_attr* attr) {
  *attr = {};
  return static_cast<int>(::syscall(SYS_sched_getattr, tid, attr, sizeof(*attr), 0));
}
int SetAttr(pid_t tid, sched_attr* attr) {
  attr->size = sizeof(*attr);
  return static_cast<int>(::syscall(SYS_sched_setattr, tid, attr, 0));
}

std::string EncodeAttr(const sched_attr& a) {
  return std::to_string(a.sched_policy) + " " + std::to_string(a.sched_nice) + " " +
         std::to_string(a.sched_priority) + " " + std::to_string(a.sched_flags);
}

bool DecodeAttr(const std::string& s, sched_attr* a) {
  *a = {};
  unsigned policy = 0, priority = 0;
  int nice = 0;
  unsigned long long flags = 0;
  if (std::sscanf(s.c_str(), "%u %d %u %llu", &policy, &nice, &priority, &flags) != 4) return false;
  a->sched_policy = policy;
  a->sched_nice = nice;
  a->sched_priority = priority;
  a->sched_flags = flags & kResetOnFork;
  return true;
}

std::string RuleCgroupDir(const std::string& root, const std::string& rule) {
  return root + "/syspgo-sched/" + rule;
}

Status WriteSmall(const std::string& path, const std::string& value) {
  ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(path, O_WRONLY | O_CLOEXEC));
  if (::write(fd.get(), value.data(), value.size()) < 0)
    return ErrnoStatus(errno, "write " + value + " to", path);
  return Status::Ok();
}

// Undoes one record. Tasks that are gone (or are other tasks now) are fine.
Status UndoRecord(const JournalRecord& r, const Logger* log) {
  auto same_task = [&]() {
    auto st = ProcStartTime(r.id);
    return st.ok() && *st == r.start_time;
  };
  if (r.kind == "sched") {
    if (!same_task()) return Status::Ok();
    sched_attr a;
    if (!DecodeAttr(r.value, &a))
      return Corruption("journal: bad scheduling attributes '" + r.value + "'");
    if (SetAttr(r.id, &a) != 0 && errno != ESRCH)
      return ErrnoStatus(errno, "restore scheduling policy of tid", std::to_string(r.id));
  } else if (r.kind == "affinity") {
    if (!same_task()) return Status::Ok();
    ASSIGN_OR_RETURN(std::vector<int> cpus, ParseCpuList(r.value));
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) CPU_SET(c, &set);
    if (::sched_setaffinity(r.id, sizeof(set), &set) != 0 && errno != ESRCH) {
      return ErrnoStatus(errno, "restore CPU affinity of tid", std::to_string(r.id));
    }
  } else if (r.kind == "move") {
    // value: "v1|v2 ROOT CGROUP"
    const size_t s1 = r.value.find(' '), s2 = r.value.find(' ', s1 + 1);
    if (s1 == std::string::npos || s2 == std::string::npos)
      return Corruption("journal: bad move '" + r.value + "'");
    const std::string root = r.value.substr(s1 + 1, s2 - s1 - 1), cg = r.value.substr(s2 + 1);
    if (!same_task()) return Status::Ok();
    Status st = WriteSmall(root + (cg == "/" ? "" : cg) + "/cgroup.procs", std::to_string(r.id));
    if (!st.ok() && same_task()) return st;
  } else if (r.kind == "mkdir") {
    // Processes that were forked inside it go where the first one moved in came from.
    const std::string procs = r.value + "/cgroup.procs";
    auto text = ReadFileToString(procs, 1 << 20);
    if (text.ok() && !text->empty()) {
      const std::string parent_root = DirName(DirName(r.value));
      for (std::string_view line : SplitLines(*text)) {
        if (line.empty()) continue;
        (void)WriteSmall(parent_root + "/cgroup.procs", std::string(line));
      }
    }
    if (::rmdir(r.value.c_str()) != 0 && errno != ENOENT)
      return ErrnoStatus(errno, "remove cgroup", r.value);
    const std::string parent = DirName(r.value);
    (void)::rmdir(parent.c_str());  // syspgo-sched/, when no other rule uses it
  } else {
    return Corruption("journal: unknown change '" + r.kind + "'");
  }
  if (log)
    log->Info("undone: " + r.kind + " " + (r.id ? std::to_string(r.id) + " " : "") + r.value +
              " (rule " + r.rule + ")");
  return Status::Ok();
}

}  // namespace

std::string CpuControllerRoot(bool* is_v2) {
  *is_v2 = false;
  std::string v2;
  for (const MountInfo& m : ReadMountInfo()) {
    if (m.fstype == "cgroup" && m.root == "/") {
      for (std::string_view o : Split(m.super_options, ',', false)) {
        if (o == "cpu") return m.mount_point;
      }
    }
    if (m.fstype == "cgroup2" && m.root == "/") v2 = m.mount_point;
  }
  if (v2.empty()) return "";
  auto controllers = ReadFileToString(v2 + "/cgroup.controllers", 4096);
  if (!controllers.ok()) return "";
  for (std::string_view c :
       Split(Split(*controllers, '\n', false).empty() ? "" : Split(*controllers, '\n', false)[0],
             ' ', false)) {
    if (c == "cpu") {
      *is_v2 = true;
      return v2;
    }
  }
  return "";
}

std::string JournalRecord::Encode() const {
  return rule + "\t" + kind + "\t" + std::to_string(id) + "\t" + std::to_string(start_time) + "\t" +
         value + "\n";
}

Result<JournalRecord> JournalRecord::Decode(std::string_view line) {
  const auto f = Split(line, '\t', true);
  auto bad = [&]() { return Corruption("journal: bad line '" + std::string(line) + "'"); };
  if (f.size() != 5) return bad();
  JournalRecord r;
  r.rule = std::string(f[0]);
  r.kind = std::string(f[1]);
  if (r.kind != "sched" && r.kind != "affinity" && r.kind != "move" && r.kind != "mkdir") {
    return bad();
  }
  int64_t id = 0;
  auto [p1, e1] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), id);
  auto [p2, e2] = std::from_chars(f[3].data(), f[3].data() + f[3].size(), r.start_time);
  if (e1 != std::errc() || p1 != f[2].data() + f[2].size() || e2 != std::errc() ||
      p2 != f[3].data() + f[3].size() || id < 0 || id > INT32_MAX) {
    return bad();
  }
  r.id = static_cast<pid_t>(id);
  r.value = std::string(f[4]);
  return r;
}

Result<size_t> Enforcer::UndoJournal(const std::string& path, const Logger* log,
                                     size_t* set_aside) {
  if (set_aside) *set_aside = 0;
  auto text = ReadFileToString(path, 64 << 20);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return size_t{0};
    return text.status();
  }
  // What cannot be read or undone goes to journal.bad with the reason, for
  // a person to look at; the agent goes on.
  std::string bad;
  auto put_aside = [&](std::string_view line, const Status& why) {
    if (log) log->Warning(why.ToString() + " (set aside in " + path + ".bad)");
    bad += "# " + why.ToString() + "\n" + std::string(line) + "\n";
    if (set_aside) ++*set_aside;
  };
  std::vector<std::pair<JournalRecord, std::string_view>> records;
  const std::vector<std::string_view> lines = SplitLines(*text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    auto r = JournalRecord::Decode(lines[i]);
    if (!r.ok()) {
      // A torn last line (killed while writing): its change was not made.
      if (i + 1 == lines.size()) {
        if (log) log->Warning(r.status().ToString() + " (a torn last line: skipped)");
      } else {
        put_aside(lines[i], r.status());
      }
      continue;
    }
    records.emplace_back(std::move(*r), lines[i]);
  }
  size_t n = 0;
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    Status st = UndoRecord(it->first, log);
    if (st.ok()) {
      ++n;
    } else {
      put_aside(it->second, st.WithContext("undo " + path));
    }
  }
  if (!bad.empty()) {
    const std::string bad_path = path + ".bad";
    auto fd = UniqueFd::Open(bad_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (!fd.ok() || !WriteAll(fd->get(), std::string_view(bad), bad_path).ok()) {
      if (log) log->Warning("could not keep the records set aside in " + bad_path);
    }
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(errno, "remove", path);
  return n;
}

Result<std::unique_ptr<Enforcer>> Enforcer::Open(const std::string& state_dir, const Logger* log,
                                                 size_t* recovered) {
  RETURN_IF_ERROR(MakePrivateDir(state_dir));
  std::unique_ptr<Enforcer> e(new Enforcer());
  e->log_ = log;
  const std::string lock_path = JoinPath(state_dir, "agent.lock");
  ASSIGN_OR_RETURN(e->lock_, UniqueFd::Open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (::flock(e->lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return FailedPrecondition("another syspgo sched agent runs (it holds " + lock_path + ")");
    return ErrnoStatus(errno, "lock", lock_path);
  }
  e->journal_path_ = JoinPath(state_dir, "journal");
  size_t set_aside = 0;
  ASSIGN_OR_RETURN(*recovered, UndoJournal(e->journal_path_, log, &set_aside));
  if (set_aside && log) {
    log->Warning(std::to_string(set_aside) + " journal records could not be undone; see " +
                 e->journal_path_ + ".bad");
  }
  ASSIGN_OR_RETURN(
      e->journal_,
      UniqueFd::Open(e->journal_path_, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
  return e;
}

Enforcer::~Enforcer() = default;

Status Enforcer::Record(const JournalRecord& r) {
  const std::string line = r.Encode();
  RETURN_IF_ERROR(WriteAll(journal_.get(), std::string_view(line), journal_path_));
  if (::fdatasync(journal_.get()) != 0) return ErrnoStatus(errno, "fdatasync", journal_path_);
  records_.push_back(r);
  return Status::Ok();
}

Status Enforcer::RewriteJournal() {
  std::string text;
  for (const JournalRecord& r : records_) text += r.Encode();
  RETURN_IF_ERROR(WriteFileAtomic(journal_path_, text, 0600));
  ASSIGN_OR_RETURN(journal_, UniqueFd::Open(journal_path_, O_WRONLY | O_APPEND | O_CLOEXEC, 0600));
  return Status::Ok();
}

bool Enforcer::Engaged(const std::string& rule) const {
  for (const JournalRecord& r : records_) {
    if (r.rule == rule) return true;
  }
  return false;
}

Status Enforcer::ApplyToThread(const Rule& rule, pid_t tgid, pid_t tid, uint64_t start) {
  JournalRecord r{rule.name, "", tid, start, ""};
  // A task forked after the change took the changed setting from its
  // parent: its original is its process's (or the first changed task's).
  auto original_of = [&](const std::string& kind) -> const JournalRecord* {
    const JournalRecord* any = nullptr;
    for (const JournalRecord& o : records_) {
      if (o.rule != rule.name || o.kind != kind) continue;
      if (o.id == tgid) return &o;
      if (!any) any = &o;
    }
    return any;
  };
  if (rule.action == ActionKind::kSchedIdle) {
    sched_attr a;
    if (GetAttr(tid, &a) != 0)
      return ErrnoStatus(errno, "read scheduling policy of tid", std::to_string(tid));
    r.kind = "sched";
    const JournalRecord* o = a.sched_policy == SCHED_IDLE ? original_of("sched") : nullptr;
    r.value = o ? o->value : EncodeAttr(a);
    RETURN_IF_ERROR(Record(r));
    if (a.sched_policy == SCHED_IDLE) return Status::Ok();
    sched_attr idle = a;
    idle.sched_policy = SCHED_IDLE;
    idle.sched_priority = 0;
    idle.sched_flags = 0;
    if (SetAttr(tid, &idle) != 0)
      return ErrnoStatus(errno, "set SCHED_IDLE on tid", std::to_string(tid));
    return Status::Ok();
  }
  // kAffinity
  cpu_set_t old;
  CPU_ZERO(&old);
  if (::sched_getaffinity(tid, sizeof(old), &old) != 0)
    return ErrnoStatus(errno, "read CPU affinity of tid", std::to_string(tid));
  cpu_set_t want;
  CPU_ZERO(&want);
  for (int c : rule.cpus) CPU_SET(c, &want);
  r.kind = "affinity";
  const JournalRecord* o = CPU_EQUAL(&old, &want) ? original_of("affinity") : nullptr;
  r.value = o ? o->value : FormatCpuList(CpusOf(old));
  RETURN_IF_ERROR(Record(r));
  if (::sched_setaffinity(tid, sizeof(want), &want) != 0) {
    return ErrnoStatus(errno, "set CPU affinity of tid", std::to_string(tid));
  }
  return Status::Ok();
}

const std::string& Enforcer::CpuRoot(bool* v2) {
  if (!cpu_root_known_) {
    cpu_root_ = CpuControllerRoot(&cpu_root_v2_);
    cpu_root_known_ = true;
  }
  *v2 = cpu_root_v2_;
  return cpu_root_;
}

Status Enforcer::MoveProcess(const Rule& rule, pid_t tgid, uint64_t start) {
  bool v2 = false;
  const std::string root = CpuRoot(&v2);
  if (root.empty())
    return FailedPrecondition(
        "no cpu cgroup controller (v1 cpu or v2 with cpu) for action cpu.idle");
  const std::string dir = RuleCgroupDir(root, rule.name);
  if (!PathExists(dir)) {
    RETURN_IF_ERROR(Record({rule.name, "mkdir", 0, 0, dir}));
    if (v2) (void)WriteSmall(root + "/cgroup.subtree_control", "+cpu");
    RETURN_IF_ERROR(MakeDirs(DirName(dir), 0755));
    if (v2) (void)WriteSmall(DirName(dir) + "/cgroup.subtree_control", "+cpu");
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      return ErrnoStatus(errno, "make cgroup", dir);
    RETURN_IF_ERROR(WriteSmall(dir + "/cpu.idle", "1"));
  }
  ASSIGN_OR_RETURN(std::string from, CgroupOf(tgid, v2 ? "" : "cpu"));
  if (root + from == dir) return Status::Ok();  // forked inside it
  RETURN_IF_ERROR(Record(
      {rule.name, "move", tgid, start, std::string(v2 ? "v2 " : "v1 ") + root + " " + from}));
  return WriteSmall(dir + "/cgroup.procs", std::to_string(tgid));
}

Result<size_t> Enforcer::Apply(const Rule& rule,
                               const std::vector<std::pair<pid_t, pid_t>>& tasks) {
  size_t changed = 0;
  auto& enforced = enforced_[rule.name];
  for (const auto& [tgid, tid] : tasks) {
    const bool process = rule.action == ActionKind::kCpuIdle;
    const pid_t key = process ? tgid : tid;
    auto start = ProcStartTime(key);
    if (!start.ok()) continue;  // gone
    auto have = enforced.find(key);
    if (have != enforced.end() && have->second.start_time == *start) continue;
    if (refused_.count({rule.name, key, *start})) continue;
    Status st = process ? MoveProcess(rule, tgid, *start) : ApplyToThread(rule, tgid, tid, *start);
    if (!st.ok()) {
      if (!ProcStartTime(key).ok()) continue;  // exited meanwhile
      // One task that cannot be changed (a kernel thread, a task in
      // another cgroup namespace) does not stop the others, and is not
      // tried again.
      refused_.insert({rule.name, key, *start});
      if (log_) log_->Warning("rule " + rule.name + ": " + st.ToString());
      continue;
    }
    Enforced& e = enforced[key];  // a reused pid's old entry is replaced
    e = Enforced{};
    e.tgid = tgid;
    e.tid = process ? tgid : tid;
    e.start_time = *start;
    ++changed;
  }
  return changed;
}

namespace {

std::string CommOf(pid_t tid) {
  auto comm = ReadFileToString("/proc/" + std::to_string(tid) + "/comm", 64);
  if (!comm.ok()) return "?";
  while (!comm->empty() && comm->back() == '\n') comm->pop_back();
  return *comm;
}

// The set of pids a cgroup.procs file lists.
std::set<pid_t> ProcsOf(const std::string& dir) {
  std::set<pid_t> out;
  auto text = ReadFileToString(dir + "/cgroup.procs", 16 << 20);
  if (!text.ok()) return out;
  for (std::string_view line : SplitLines(*text)) {
    int v = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
    if (ec == std::errc() && v > 0) out.insert(v);
  }
  return out;
}

}  // namespace

bool Enforcer::PutBack(const Rule& rule, Enforced& t, uint64_t now_ns) {
  // The task that escaped must be the one changed (not a reused pid).
  auto start = ProcStartTime(t.tid);
  if (!start.ok() || *start != t.start_time) return false;
  Status st = Status::Ok();
  if (rule.action == ActionKind::kSchedIdle) {
    sched_attr a;
    if (GetAttr(t.tid, &a) != 0) return false;
    a.sched_policy = SCHED_IDLE;
    a.sched_priority = 0;
    a.sched_flags = 0;
    if (SetAttr(t.tid, &a) != 0)
      st = ErrnoStatus(errno, "set SCHED_IDLE on tid", std::to_string(t.tid));
  } else if (rule.action == ActionKind::kAffinity) {
    cpu_set_t want;
    CPU_ZERO(&want);
    for (int c : rule.cpus) CPU_SET(c, &want);
    if (::sched_setaffinity(t.tid, sizeof(want), &want) != 0) {
      st = ErrnoStatus(errno, "set CPU affinity of tid", std::to_string(t.tid));
    }
  } else {
    bool v2 = false;
    const std::string& root = CpuRoot(&v2);
    st = WriteSmall(RuleCgroupDir(root, rule.name) + "/cgroup.procs", std::to_string(t.tgid));
  }
  if (!st.ok()) {
    if (!ProcStartTime(t.tid).ok()) return false;  // exited meanwhile
    if (log_) log_->Warning("rule " + rule.name + ": could not put back: " + st.ToString());
    return true;  // tried again at the next tick
  }
  ++t.escapes;
  ++t.unlogged;
  t.last_escape_ns = now_ns;
  ++escapes_total_[rule.name];
  // Every put-back is counted; the log says each of a task's first five,
  // then how many more every 10 s, so a task that keeps escaping cannot
  // flood it.
  if (log_ && (t.escapes <= 5 || now_ns - t.last_logged_ns >= 10'000'000'000ull)) {
    const std::string who =
        (t.tid == t.tgid ? "pid " : "tid ") + std::to_string(t.tid) + " (" + CommOf(t.tid) + ")";
    const std::string what = rule.action == ActionKind::kSchedIdle  ? "SCHED_IDLE"
                             : rule.action == ActionKind::kAffinity ? "its CPUs"
                                                                    : "the rule's cpu.idle cgroup";
    std::string count = std::to_string(t.escapes) + " in all";
    if (t.unlogged > 1) count = std::to_string(t.unlogged) + " since the last line, " + count;
    log_->Warning("rule " + rule.name + ": " + who + " undid the change; put back to " + what +
                  " (" + count + ")");
    t.last_logged_ns = now_ns;
    t.unlogged = 0;
  }
  return true;
}

Result<size_t> Enforcer::Enforce(const Rule& rule, uint64_t now_ns) {
  auto it = enforced_.find(rule.name);
  if (it == enforced_.end()) return size_t{0};
  auto& tasks = it->second;
  size_t put_back = 0;
  std::set<pid_t> inside;
  cpu_set_t want;
  CPU_ZERO(&want);
  if (rule.action == ActionKind::kCpuIdle) {
    bool v2 = false;
    const std::string& root = CpuRoot(&v2);
    if (root.empty()) return size_t{0};
    inside = ProcsOf(RuleCgroupDir(root, rule.name));
  } else if (rule.action == ActionKind::kAffinity) {
    for (int c : rule.cpus) CPU_SET(c, &want);
  }
  for (auto t = tasks.begin(); t != tasks.end();) {
    Enforced& task = t->second;
    bool escaped = false;
    bool gone = false;
    if (rule.action == ActionKind::kSchedIdle) {
      sched_attr a;
      if (GetAttr(task.tid, &a) != 0) {
        gone = errno == ESRCH;
      } else {
        escaped = a.sched_policy != SCHED_IDLE;
      }
    } else if (rule.action == ActionKind::kAffinity) {
      cpu_set_t now;
      CPU_ZERO(&now);
      if (::sched_getaffinity(task.tid, sizeof(now), &now) != 0) {
        gone = errno == ESRCH;
      } else {
        escaped = !CPU_EQUAL(&now, &want);
      }
    } else {
      escaped = !inside.count(task.tgid);
    }
    if (escaped && !gone) {
      if (PutBack(rule, task, now_ns)) {
        ++put_back;
      } else {
        gone = true;
      }
    }
    if (gone) {
      t = tasks.erase(t);
    } else {
      ++t;
    }
  }
  return put_back;
}

std::vector<Escape> Enforcer::Escapes() const {
  std::vector<Escape> out;
  for (const auto& [rule, tasks] : enforced_) {
    for (const auto& [key, t] : tasks) {
      if (t.escapes == 0) continue;
      out.push_back({rule, t.tgid, t.tid, CommOf(t.tid), t.escapes, t.last_escape_ns});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Escape& a, const Escape& b) { return a.count > b.count; });
  return out;
}

uint64_t Enforcer::EscapesTotal(const std::string& rule) const {
  auto it = escapes_total_.find(rule);
  return it == escapes_total_.end() ? 0 : it->second;
}

Result<size_t> Enforcer::Undo(const std::string& rule) {
  size_t n = 0;
  Status first;
  for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
    if (it->rule != rule) continue;
    Status st = UndoRecord(*it, log_);
    if (st.ok())
      ++n;
    else if (first.ok())
      first = st;
  }
  std::erase_if(records_, [&](const JournalRecord& r) { return r.rule == rule; });
  enforced_.erase(rule);
  std::erase_if(refused_, [&](const auto& r) { return std::get<0>(r) == rule; });
  RETURN_IF_ERROR(RewriteJournal());
  if (!first.ok()) return first;
  return n;
}

Status Enforcer::UndoAll() {
  Status first;
  for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
    Status st = UndoRecord(*it, log_);
    if (!st.ok() && first.ok()) first = st;
  }
  records_.clear();
  enforced_.clear();
  refused_.clear();
  journal_.Reset();
  if (!first.ok()) return first;  // the journal stays for the next start
  if (::unlink(journal_path_.c_str()) != 0 && errno != ENOENT)
    return ErrnoStatus(errno, "remove", journal_path_);
  return Status::Ok();
}

}  // namespace syspgo::sched
