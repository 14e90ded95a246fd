// SPDX-License-Identifier: Apache-2.0
#include "run/runc.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstring>

#include "common/file_util.h"

namespace syspgo::run {

std::vector<std::string> Runc::Base() const { return {binary_, "--root", state_root_}; }

Status CreateFailure(const ExitInfo& exit, const std::string& log) {
  // runc logs JSON lines; the error's "msg" is what to show.
  std::string msg;
  for (std::string_view line : SplitLines(log)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("level", "") == "error") msg = j.value("msg", "");
  }
  if (msg.empty()) msg = log;
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  // The command itself: docker's exit codes 127 (not found) and 126 (not
  // executable) come from these.
  const size_t exec = msg.find("exec: ");
  if (exec != std::string::npos) {
    const std::string what = msg.substr(exec + 6);
    if (what.find("executable file not found") != std::string::npos ||
        what.find("no such file or directory") != std::string::npos) {
      return NotFound("the container's command is not in the image: " + what);
    }
    if (what.find("permission denied") != std::string::npos) {
      return PermissionDenied("the container's command cannot be executed: " + what);
    }
  }
  return Internal("runc create failed (" + exit.ToString() + "): " + msg);
}

Result<pid_t> Runc::Create(const std::string& id, const std::string& bundle, int stdout_fd,
                           int stderr_fd) {
  std::string pid_file = JoinPath(bundle, "init.pid");
  std::vector<std::string> argv = Base();
  argv.insert(argv.end(), {"create", "--bundle", bundle, "--pid-file", pid_file, id});
  // runc's own messages go to a log file so they do not mix with the
  // container's output; they are shown when create fails.
  std::string log_file = JoinPath(bundle, "runc-create.log");
  argv.insert(argv.begin() + 3, {"--log", log_file});
  SpawnOptions options;
  options.null_stdin = true;
  options.stdout_fd = stdout_fd;
  options.stderr_fd = stderr_fd;
  // If we are killed mid-create, runc must not go on building a container
  // in a bundle that the next start's clean-up is removing.
  options.die_with_parent = true;
  ASSIGN_OR_RETURN(Subprocess child, Subprocess::Spawn(argv, options));
  ASSIGN_OR_RETURN(ExitInfo exit, child.Wait());
  if (!exit.success()) {
    auto log = ReadFileToString(log_file);
    return CreateFailure(exit, log.ok() ? *log : "");
  }
  ASSIGN_OR_RETURN(std::string pid_text, ReadFileToString(pid_file));
  long pid = std::strtol(pid_text.c_str(), nullptr, 10);
  if (pid <= 0) return Internal("runc wrote no usable pid to " + pid_file);
  return static_cast<pid_t>(pid);
}

Status Runc::Start(const std::string& id) {
  std::vector<std::string> argv = Base();
  argv.insert(argv.end(), {"start", id});
  return RunCommandOk(argv);
}

Status Runc::Kill(const std::string& id, int signal, bool all) {
  std::vector<std::string> argv = Base();
  argv.push_back("kill");
  if (all) argv.push_back("--all");
  argv.insert(argv.end(), {id, std::to_string(signal)});
  return RunCommandOk(argv);
}

Status Runc::Delete(const std::string& id) {
  std::vector<std::string> argv = Base();
  argv.insert(argv.end(), {"delete", "--force", id});
  ASSIGN_OR_RETURN(CommandOutput out, RunCommand(argv));
  if (out.exit.success() || out.output.find("does not exist") != std::string::npos) {
    return Status::Ok();
  }
  return Internal("runc delete " + id + " failed: " + out.output);
}

}  // namespace syspgo::run
