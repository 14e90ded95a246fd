// SPDX-License-Identifier: Apache-2.0
#include "sched/enforcer.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>

#include "common/file_util.h"
#include "common/mount.h"
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

std::string CpuListOf(const cpu_set_t& set) {
  std::string out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out += (out.empty() ? "" : ",") + std::to_string(c);
  }
  return out;
}

// The process's cgroup in a hierarchy: v2's "0::" line, or the v1 line
// whose controllers include "cpu".
Result<std::string> CgroupIn(pid_t pid, bool v2) {
  if (v2) return CgroupV2Of(pid);
  const std::string path = "/proc/" + std::to_string(pid) + "/cgroup";
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 65536));
  for (std::string_view line : SplitLines(text)) {
    const auto parts = Split(line, ':', true);
    if (parts.size() < 3) continue;
    for (std::string_view c : Split(parts[1], ',', false)) {
      if (c == "cpu") return std::string(line.substr(parts[0].size() + parts[1].size() + 2));
    }
  }
  return NotFound(path + " has no cpu controller line");
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
    auto st = StartTimeOf(r.id);
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
  if (f.size() != 5) return Corruption("journal: bad line '" + std::string(line) + "'");
  JournalRecord r;
  r.rule = std::string(f[0]);
  r.kind = std::string(f[1]);
  r.id = static_cast<pid_t>(std::strtol(std::string(f[2]).c_str(), nullptr, 10));
  r.start_time = std::strtoull(std::string(f[3]).c_str(), nullptr, 10);
  r.value = std::string(f[4]);
  return r;
}

Result<size_t> Enforcer::UndoJournal(const std::string& path, const Logger* log) {
  auto text = ReadFileToString(path, 64 << 20);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return size_t{0};
    return text.status();
  }
  std::vector<JournalRecord> records;
  for (std::string_view line : SplitLines(*text)) {
    if (line.empty()) continue;
    auto r = JournalRecord::Decode(line);
    if (!r.ok()) {
      // A torn last line (killed while writing): its change was not made.
      if (log) log->Warning(r.status().ToString());
      continue;
    }
    records.push_back(std::move(*r));
  }
  size_t n = 0;
  Status first;
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    Status st = UndoRecord(*it, log);
    if (st.ok()) {
      ++n;
    } else if (first.ok()) {
      first = st;
    }
  }
  if (!first.ok()) return first.WithContext("undo " + path);
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
  ASSIGN_OR_RETURN(*recovered, UndoJournal(e->journal_path_, log));
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
  r.value = o ? o->value : CpuListOf(old);
  RETURN_IF_ERROR(Record(r));
  if (::sched_setaffinity(tid, sizeof(want), &want) != 0) {
    return ErrnoStatus(errno, "set CPU affinity of tid", std::to_string(tid));
  }
  return Status::Ok();
}

Status Enforcer::MoveProcess(const Rule& rule, pid_t tgid, uint64_t start) {
  bool v2 = false;
  const std::string root = CpuControllerRoot(&v2);
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
  ASSIGN_OR_RETURN(std::string from, CgroupIn(tgid, v2));
  if (root + from == dir) return Status::Ok();  // forked inside it
  RETURN_IF_ERROR(Record(
      {rule.name, "move", tgid, start, std::string(v2 ? "v2 " : "v1 ") + root + " " + from}));
  return WriteSmall(dir + "/cgroup.procs", std::to_string(tgid));
}

Result<size_t> Enforcer::Apply(const Rule& rule,
                               const std::vector<std::pair<pid_t, pid_t>>& tasks) {
  size_t changed = 0;
  for (const auto& [tgid, tid] : tasks) {
    const pid_t key = rule.action == ActionKind::kCpuIdle ? tgid : tid;
    if (done_.count({rule.name, key})) continue;
    auto start = StartTimeOf(key);
    if (!start.ok()) continue;  // gone
    Status st = rule.action == ActionKind::kCpuIdle ? MoveProcess(rule, tgid, *start)
                                                    : ApplyToThread(rule, tgid, tid, *start);
    done_.insert({rule.name, key});  // tried once: a task that refuses is not retried
    if (!st.ok()) {
      if (!StartTimeOf(key).ok()) continue;  // exited meanwhile
      // One task that cannot be changed (a kernel thread, a task in
      // another cgroup namespace) does not stop the others.
      if (log_) log_->Warning("rule " + rule.name + ": " + st.ToString());
      continue;
    }
    ++changed;
  }
  return changed;
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
  std::erase_if(done_, [&](const auto& d) { return d.first == rule; });
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
  done_.clear();
  journal_.Reset();
  if (!first.ok()) return first;  // the journal stays for the next start
  if (::unlink(journal_path_.c_str()) != 0 && errno != ENOENT)
    return ErrnoStatus(errno, "remove", journal_path_);
  return Status::Ok();
}

}  // namespace syspgo::sched
