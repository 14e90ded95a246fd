// SPDX-License-Identifier: Apache-2.0
// File: cli/commands.h
//
// The syspgo subcommands. Each takes its arguments (after the subcommand
// name) and a context owned by main, and returns the process exit code.
#ifndef SYSPGO_CLI_COMMANDS_H_
#define SYSPGO_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "common/cancel.h"

namespace syspgo::cli {

struct CommandContext {
  const CancelToken* cancel;  // set by SIGINT/SIGTERM
};

int PullCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int RunCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int BuildImageCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int TraceCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int ImageCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int MountCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int UmountCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int CleanupCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int ProfileCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int SchedCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int ImagesCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int RmiCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int GcCommand(const std::vector<std::string>& args, const CommandContext& ctx);
int SnapshotterCommand(const std::vector<std::string>& args, const CommandContext& ctx);
// `syspgo snapshotter`: replaces this process with syspgo-snapshotter (the
// binary beside this one), which runs SnapshotterCommand.
int ExecSnapshotter(const std::vector<std::string>& args);

// Exit codes of syspgo's own failures (the container's code passes through).
inline constexpr int kExitUsage = 2;
inline constexpr int kExitFailure = 125;
inline constexpr int kExitCancelled = 130;

}  // namespace syspgo::cli

#endif  // SYSPGO_CLI_COMMANDS_H_
