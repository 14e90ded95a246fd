// SPDX-License-Identifier: Apache-2.0
// File: sched/enforcer.h
//
// The agent's changes to the system, and their undo. Every change is
// written to a journal (STATE_DIR/journal, 0600, fsynced) before it is
// made: the old scheduling policy of a thread, its old CPU affinity, the
// cgroup a process was moved from, a cgroup directory made. Undo puts each
// back, newest first, on tasks that are still the same tasks (pid and start
// time). An agent that was SIGKILLed leaves its journal; the next one undoes
// it before anything else (as the tracer restores readahead). A record it
// cannot read or undo is reported, set aside in STATE_DIR/journal.bad and
// skipped: one bad record never keeps an agent from starting.
//
// Enforcement is a state, not an action: while a rule is engaged, every
// task it changed is checked at every Enforce (each agent tick) and put
// back when it undid the change itself (a task may set its own policy back
// to SCHED_OTHER within RLIMIT_NICE, change its own affinity, or move
// itself to another cgroup it may write). Each put-back is counted per
// task and per rule and logged with the task.
//
// One agent per node: Open holds STATE_DIR/agent.lock.
//
// Threading: one thread uses an Enforcer.
#ifndef SYSPGO_SCHED_ENFORCER_H_
#define SYSPGO_SCHED_ENFORCER_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "sched/policy.h"

namespace syspgo::sched {

// One journal line.
struct JournalRecord {
  std::string rule;
  std::string kind;  // "sched", "affinity", "move", "mkdir"
  pid_t id = 0;      // tid (sched, affinity) or pid (move)
  uint64_t start_time = 0;
  std::string value;  // old "policy nice priority flags", old CPU list, old cgroup, made dir
  std::string Encode() const;
  static Result<JournalRecord> Decode(std::string_view line);
};

// A task that undid a rule's change, and how often.
struct Escape {
  std::string rule;
  pid_t tgid = 0;
  pid_t tid = 0;  // == tgid for a process (cpu.idle)
  std::string comm;
  uint64_t count = 0;
  uint64_t last_ns = 0;  // CLOCK_MONOTONIC of the last put-back
};

class Enforcer {
 public:
  // Takes the agent lock, undoes what a killed agent left (`*recovered`
  // says how many changes), and opens a new journal.
  static Result<std::unique_ptr<Enforcer>> Open(const std::string& state_dir, const Logger* log,
                                                size_t* recovered);
  ~Enforcer();

  // Applies the rule's action to the tasks (tgid, tid) it has not changed
  // yet (a task is the same task while its start time is). Returns how
  // many tasks changed; tasks that vanish meanwhile are skipped, and one
  // that refuses the change is logged and not tried again. An error is one
  // of the journal's.
  Result<size_t> Apply(const Rule& rule, const std::vector<std::pair<pid_t, pid_t>>& tasks);
  // Checks every task the rule changed and puts back those that undid the
  // change (policy, affinity or cgroup no longer the rule's). Costs one
  // system call per thread (sched_idle, affinity) or one read of the
  // rule's cgroup.procs (cpu.idle). Returns how many were put back.
  Result<size_t> Enforce(const Rule& rule, uint64_t now_ns);
  // Undoes every change made for the rule. Returns how many were undone.
  Result<size_t> Undo(const std::string& rule);
  // Undoes everything and removes the journal.
  Status UndoAll();
  bool Engaged(const std::string& rule) const;
  // Tasks that undid a change of an engaged rule, most put-backs first.
  std::vector<Escape> Escapes() const;
  // Put-backs of a rule since the agent started.
  uint64_t EscapesTotal(const std::string& rule) const;

  // Undoes a journal file's records (newest first) and removes it; a
  // missing file is nothing to do. A record that cannot be read or undone
  // is appended to `path`.bad with the reason and skipped. Returns how
  // many were undone; `*set_aside` (when given) how many were set aside.
  static Result<size_t> UndoJournal(const std::string& path, const Logger* log,
                                    size_t* set_aside = nullptr);

 private:
  // A task a rule changed.
  struct Enforced {
    pid_t tgid = 0;
    pid_t tid = 0;
    uint64_t start_time = 0;
    uint64_t escapes = 0;
    uint64_t last_escape_ns = 0;
    uint64_t last_logged_ns = 0;
    uint64_t unlogged = 0;  // put-backs since the last log line
  };
  Enforcer() = default;
  Status Record(const JournalRecord& r);
  Status RewriteJournal();
  Status ApplyToThread(const Rule& rule, pid_t tgid, pid_t tid, uint64_t start);
  Status MoveProcess(const Rule& rule, pid_t tgid, uint64_t start);
  // Puts one escaped task back; false when it is gone (or another task).
  bool PutBack(const Rule& rule, Enforced& task, uint64_t now_ns);
  // CpuControllerRoot, read once (every tick needs it; the mount table
  // can be long on a busy node).
  const std::string& CpuRoot(bool* v2);

  const Logger* log_ = nullptr;
  std::string journal_path_;
  UniqueFd lock_;
  UniqueFd journal_;
  std::vector<JournalRecord> records_;  // in journal order
  // Per rule, the tasks it changed, by tid (or pid for cpu.idle).
  std::map<std::string, std::map<pid_t, Enforced>> enforced_;
  // Tasks that refused a rule's change: (rule, id, start time).
  std::set<std::tuple<std::string, pid_t, uint64_t>> refused_;
  std::map<std::string, uint64_t> escapes_total_;
  std::string cpu_root_;
  bool cpu_root_v2_ = false;
  bool cpu_root_known_ = false;
};

// Where a cpu controller can make a cgroup idle: v1's cpu hierarchy, else
// a v2 hierarchy with the cpu controller; "" when neither.
std::string CpuControllerRoot(bool* is_v2);

}  // namespace syspgo::sched

#endif  // SYSPGO_SCHED_ENFORCER_H_
