// SPDX-License-Identifier: Apache-2.0
// File: common/process.h
//
// Child processes with an owner. A Subprocess that is destroyed while its child
// still runs kills the child (SIGKILL) and reaps it, so no zombie and no
// stray process outlives its owner.
#ifndef SYSPGO_COMMON_PROCESS_H_
#define SYSPGO_COMMON_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace syspgo {

struct SpawnOptions {
  // Fds for the child's stdin/stdout/stderr; -1 inherits ours. /dev/null is
  // used for stdin when null_stdin is set.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool null_stdin = false;
  // Replaces the environment when set.
  std::optional<std::vector<std::string>> env;
  // Puts the child in a new process group (so a terminal's Ctrl-C reaches
  // only us, and we decide what the child gets).
  bool new_process_group = false;
  // The child gets SIGKILL when the spawning thread dies (PR_SET_PDEATHSIG),
  // so a helper never outlives a killed syspgo.
  bool die_with_parent = false;
  // The child is created but waits, before it executes anything of argv,
  // until Subprocess::Start(): whoever follows it (a profiler, a tracer)
  // sees it from its first instruction, and every process it forks. A
  // held child that is never started exits (127) when its Subprocess goes.
  bool held = false;
};

// How a process ended.
struct ExitInfo {
  int exit_code = 0;  // valid when !signaled
  int signal = 0;     // valid when signaled
  bool signaled = false;
  bool success() const { return !signaled && exit_code == 0; }
  // Shell convention: the code, or 128 + signal.
  int ShellCode() const { return signaled ? 128 + signal : exit_code; }
  std::string ToString() const;
};

class Subprocess {
 public:
  // argv[0] is looked up in PATH.
  static Result<Subprocess> Spawn(const std::vector<std::string>& argv,
                                  const SpawnOptions& options = {});
  Subprocess() = default;
  ~Subprocess();
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // Lets a held child (SpawnOptions::held) execute; its exec failure
  // (command not found) is the result. OK and nothing for any other child.
  Status Start();
  bool running() const { return pid_ > 0; }
  // Blocks until the child exits.
  Result<ExitInfo> Wait();
  // Returns the exit info if the child has exited, nullopt if it still runs.
  Result<std::optional<ExitInfo>> TryWait();
  // Waits up to timeout; then sends SIGKILL and waits.
  Result<ExitInfo> WaitFor(std::chrono::milliseconds timeout);
  Status Signal(int sig);
  // Stops owning the child: it is neither killed nor reaped by us any more.
  pid_t Release() { return std::exchange(pid_, -1); }

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}
  Subprocess(pid_t pid, UniqueFd gate, UniqueFd report, std::string program)
      : pid_(pid),
        gate_(std::move(gate)),
        report_(std::move(report)),
        program_(std::move(program)) {}
  pid_t pid_ = -1;
  UniqueFd gate_;        // held child: closing it without a byte ends the child
  UniqueFd report_;      // held child: its exec errno, or EOF when it executed
  std::string program_;  // held child: argv[0], for Start()'s error
};

struct CommandOutput {
  ExitInfo exit;
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv to completion, capturing its output (at most 1 MiB is kept).
Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                 const SpawnOptions& options = {});
// RunCommand, and an error with the output's tail unless it exits 0.
Status RunCommandOk(const std::vector<std::string>& argv);

// Converts a wait status into ExitInfo.
ExitInfo ExitInfoFromWaitStatus(int status);

}  // namespace syspgo

#endif  // SYSPGO_COMMON_PROCESS_H_
