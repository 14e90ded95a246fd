// SPDX-License-Identifier: Apache-2.0
// syspgo-snapshotter: `syspgo snapshotter` (cli/snapshotter_command.cc), a
// binary of its own so that gRPC, protobuf and SQLite load only here.
#include <atomic>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "oci/http.h"

namespace {

// Set by SIGINT/SIGTERM; read through a CancelToken. The only global state,
// as a signal handler can reach nothing else.
std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted.store(true); }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  syspgo::cli::PrepareProcess(OnSignal);
  syspgo::CancelToken cancel(&g_interrupted);
  syspgo::cli::CommandContext ctx{&cancel};
  return syspgo::cli::SnapshotterCommand(args, ctx);
}
