// SPDX-License-Identifier: Apache-2.0
// File: common/procfs.h
//
// What the node reads from /proc about processes and threads, written
// once: /proc/ID/stat's parent and start time, the pids and tids there
// are, a process tree, a thread's process, a process's cgroup.
//
// A task is named for good by (id, start time): ids are reused, start
// times (clock ticks after boot, field 22 of /proc/ID/stat) tell a new
// task under an old id apart. Everything here reads /proc as it is at the
// call; a task can exit between two calls.
#ifndef SYSPGO_COMMON_PROCFS_H_
#define SYSPGO_COMMON_PROCFS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syspgo {

// The fields of /proc/ID/stat the node uses.
struct ProcStat {
  char state = '?';         // field 3: R, S, D, Z, ...
  pid_t parent = 0;         // field 4
  uint64_t start_time = 0;  // field 22, clock ticks after boot
};

// Parses the text of a /proc/ID/stat file. The command name (field 2) is
// "(comm)" and may hold spaces and parentheses: the fields are read after
// its last ')'. Corruption when the text is not such a line.
Result<ProcStat> ParseProcStat(std::string_view text);

// Reads /proc/ID/stat (ID a pid or a tid). NotFound when there is no such
// task.
Result<ProcStat> ReadProcStat(pid_t id);
// Its start time alone; NotFound when there is no such task.
Result<uint64_t> ProcStartTime(pid_t id);
// Whether `id` is (still) the task that started at `start_time`.
bool SameTask(pid_t id, uint64_t start_time);

// The numeric entries of `dir`: /proc's processes, or /proc/PID/task's
// threads. Empty when the directory cannot be read.
std::vector<pid_t> NumericEntries(const std::string& dir);
// The processes there are (not their other threads).
std::vector<pid_t> ListProcesses();
// The threads of process `pid`, itself included.
std::vector<pid_t> ListThreads(pid_t pid);

// Direct and indirect children of `root`, from one scan of the parent
// links in /proc; parents before their children.
std::vector<pid_t> DescendantsOf(pid_t root);

// The process a thread belongs to (Tgid: of /proc/TID/status).
Result<pid_t> TgidOf(pid_t tid);

// A process's cgroup from the text of /proc/PID/cgroup: in the v2
// hierarchy ("0::PATH") when `controller` is empty, else in the v1
// hierarchy whose controllers include `controller` ("4:cpu,cpuacct:PATH").
// NotFound when there is no such line.
Result<std::string> ParseProcCgroup(std::string_view text, std::string_view controller);
// The same, read from /proc/PID/cgroup.
Result<std::string> CgroupOf(pid_t pid, std::string_view controller);

}  // namespace syspgo

#endif  // SYSPGO_COMMON_PROCFS_H_
