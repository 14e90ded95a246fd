// SPDX-License-Identifier: Apache-2.0
#include "common/procfs.h"

#include <cstdlib>
#include <map>

#include "common/file_util.h"

namespace syspgo {
namespace {

std::string ProcPath(pid_t id, const char* file) {
  return "/proc/" + std::to_string(id) + "/" + file;
}

}  // namespace

Result<ProcStat> ParseProcStat(std::string_view text) {
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos || text.find('(') > close) {
    return Corruption("/proc stat: no command name");
  }
  std::vector<std::string_view> f = Split(text.substr(close + 1), ' ', false);
  // After the name: state is field 3 (index 0), parent field 4, start
  // time field 22 (index 19).
  if (f.size() < 20 || f[0].size() != 1) return Corruption("/proc stat: too few fields");
  while (!f[19].empty() && (f[19].back() == '\n')) f[19].remove_suffix(1);
  uint64_t parent = 0;
  ProcStat st;
  st.state = f[0][0];
  if (!ParseDecimal(f[1], &parent) || parent > INT32_MAX || !ParseDecimal(f[19], &st.start_time)) {
    return Corruption("/proc stat: not a number where the parent or start time is");
  }
  st.parent = static_cast<pid_t>(parent);
  return st;
}

Result<ProcStat> ReadProcStat(pid_t id) {
  if (id <= 0) return NotFound("no task " + std::to_string(id));
  const std::string path = ProcPath(id, "stat");
  auto text = ReadFileToString(path, 4096);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound)
      return NotFound("no task " + std::to_string(id));
    return text.status();
  }
  auto st = ParseProcStat(*text);
  if (!st.ok()) return st.status().WithContext(path);
  return st;
}

Result<uint64_t> ProcStartTime(pid_t id) {
  ASSIGN_OR_RETURN(ProcStat st, ReadProcStat(id));
  return st.start_time;
}

bool SameTask(pid_t id, uint64_t start_time) {
  auto st = ProcStartTime(id);
  return st.ok() && *st == start_time;
}

std::vector<pid_t> NumericEntries(const std::string& dir) {
  std::vector<pid_t> out;
  auto names = ListDir(dir);
  if (!names.ok()) return out;
  for (const std::string& n : *names) {
    uint64_t v = 0;
    if (ParseDecimal(n, &v) && v > 0 && v <= INT32_MAX) out.push_back(static_cast<pid_t>(v));
  }
  return out;
}

std::vector<pid_t> ListProcesses() { return NumericEntries("/proc"); }

std::vector<pid_t> ListThreads(pid_t pid) {
  return NumericEntries("/proc/" + std::to_string(pid) + "/task");
}

std::vector<pid_t> DescendantsOf(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  for (pid_t pid : ListProcesses()) {
    auto st = ReadProcStat(pid);
    if (st.ok() && st->parent != pid) children[st->parent].push_back(pid);
  }
  std::vector<pid_t> out;
  // Breadth first: parents come before their children. Bounded by the
  // processes seen (a loop in the links cannot recur).
  std::vector<pid_t> level = {root};
  while (!level.empty() && out.size() < 1 << 22) {
    std::vector<pid_t> next;
    for (pid_t p : level) {
      auto c = children.find(p);
      if (c == children.end()) continue;
      for (pid_t child : c->second) {
        out.push_back(child);
        next.push_back(child);
      }
      children.erase(c);
    }
    level = std::move(next);
  }
  return out;
}

Result<pid_t> TgidOf(pid_t tid) {
  const std::string path = ProcPath(tid, "status");
  ASSIGN_OR_RETURN(std::string status, ReadFileToString(path, 8192));
  for (std::string_view line : SplitLines(status)) {
    if (!line.starts_with("Tgid:")) continue;
    line.remove_prefix(5);
    while (!line.empty() && (line.front() == '\t' || line.front() == ' ')) line.remove_prefix(1);
    uint64_t v = 0;
    if (!ParseDecimal(line, &v) || v == 0 || v > INT32_MAX) break;
    return static_cast<pid_t>(v);
  }
  return Corruption(path + ": no Tgid");
}

Result<std::string> ParseProcCgroup(std::string_view text, std::string_view controller) {
  for (std::string_view line : SplitLines(text)) {
    // "ID:CONTROLLERS:PATH"; the path may hold ':'.
    const size_t a = line.find(':');
    if (a == std::string_view::npos) continue;
    const size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    const std::string_view id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1);
    const std::string_view path = line.substr(b + 1);
    if (controller.empty()) {
      if (id == "0" && controllers.empty()) return std::string(path);
      continue;
    }
    for (std::string_view c : Split(controllers, ',', false)) {
      if (c == controller) return std::string(path);
    }
  }
  if (controller.empty()) return NotFound("no cgroup v2 line");
  return NotFound("no " + std::string(controller) + " controller line");
}

Result<std::string> CgroupOf(pid_t pid, std::string_view controller) {
  const std::string path = ProcPath(pid, "cgroup");
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 65536));
  auto cg = ParseProcCgroup(text, controller);
  if (!cg.ok()) return cg.status().WithContext(path);
  return cg;
}

}  // namespace syspgo
