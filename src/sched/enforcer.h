// SPDX-License-Identifier: Apache-2.0
// File: sched/enforcer.h
//
// The agent's changes to the system, and their undo. Every change is
// written to a journal (STATE_DIR/journal, 0600, fsynced) before it is
// made: the old scheduling policy of a thread, its old CPU affinity, the
// cgroup a process was moved from, a cgroup directory made. Undo puts each
// back, newest first, on tasks that are still the same tasks (pid and start
// time). An agent that was SIGKILLed leaves its journal; the next one undoes
// it before anything else (as the tracer restores readahead).
//
// One agent per node: Open holds STATE_DIR/agent.lock.
//
// Threading: one thread uses an Enforcer.
#ifndef SYSPGO_SCHED_ENFORCER_H_
#define SYSPGO_SCHED_ENFORCER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
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

class Enforcer {
 public:
  // Takes the agent lock, undoes what a killed agent left (`*recovered`
  // says how many changes), and opens a new journal.
  static Result<std::unique_ptr<Enforcer>> Open(const std::string& state_dir, const Logger* log,
                                                size_t* recovered);
  ~Enforcer();

  // Applies the rule's action to the tasks (tgid, tid) it has not tried
  // yet. Returns how many tasks changed; tasks that vanish meanwhile are
  // skipped, and one that refuses the change is logged and skipped. An
  // error is one of the journal's.
  Result<size_t> Apply(const Rule& rule, const std::vector<std::pair<pid_t, pid_t>>& tasks);
  // Undoes every change made for the rule. Returns how many were undone.
  Result<size_t> Undo(const std::string& rule);
  // Undoes everything and removes the journal.
  Status UndoAll();
  bool Engaged(const std::string& rule) const;

  // Undoes a journal file's records (newest first) and removes it; a
  // missing file is nothing to do. Returns how many were undone.
  static Result<size_t> UndoJournal(const std::string& path, const Logger* log);

 private:
  Enforcer() = default;
  Status Record(const JournalRecord& r);
  Status RewriteJournal();
  Status ApplyToThread(const Rule& rule, pid_t tgid, pid_t tid, uint64_t start);
  Status MoveProcess(const Rule& rule, pid_t tgid, uint64_t start);

  const Logger* log_ = nullptr;
  std::string journal_path_;
  UniqueFd lock_;
  UniqueFd journal_;
  std::vector<JournalRecord> records_;            // in journal order
  std::set<std::pair<std::string, pid_t>> done_;  // (rule, tid or pid) changed
};

// Where a cpu controller can make a cgroup idle: v1's cpu hierarchy, else
// a v2 hierarchy with the cpu controller; "" when neither.
std::string CpuControllerRoot(bool* is_v2);

}  // namespace syspgo::sched

#endif  // SYSPGO_SCHED_ENFORCER_H_
