// SPDX-License-Identifier: Apache-2.0
// syspgo: whole-system profile-guided optimization driven by eBPF.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "common/log.h"
#include "oci/http.h"
#include "trace/readahead.h"

namespace {

// Set by SIGINT/SIGTERM; read through a CancelToken. The only global state,
// as a signal handler can reach nothing else.
std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted.store(true); }

constexpr char kUsage[] = R"(USAGE: syspgo COMMAND [OPTIONS] ...

syspgo observes a running system with eBPF and feeds what it saw back into
the system. First instance: container cold start.

COMMANDS:
  pull          pull an image into the local store
  run           start a container from an image and time its cold start
  build-image   build an image from directories and push it to a registry
  trace         record the pages a process tree reads until it is ready (eBPF)
  image         runtime images: build, push, optimize, inspect, fetch
  mount         mount an image's lazy root file system (no pull)
  umount        unmount what `syspgo mount` mounted
  profile       CPU profiles of a process tree, a cgroup or the machine (eBPF)
  sched         scheduling tags, run-queue observation, the policy agent (eBPF)
  snapshotter   containerd's remote snapshotter (a daemon; docs/containerd.md)
  images        list the images in the store and the caches' sizes
  rmi           remove images from the store
  gc            remove what nothing uses from the store (--max-size)
  cleanup       remove containers and temporary files left by killed runs
  version       print the version (also --version)

Run `syspgo COMMAND --help` for a command's options.
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? syspgo::cli::kExitUsage : 0;
  }
  syspgo::cli::PrepareProcess(OnSignal);

  syspgo::CancelToken cancel(&g_interrupted);
  syspgo::cli::CommandContext ctx{&cancel};
  {
    // A tracer that was killed may have left readahead off: put it back.
    syspgo::Logger log(syspgo::LogLevel::kWarning);
    syspgo::trace::RestoreStaleReadahead(&log);
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "pull") return syspgo::cli::PullCommand(args, ctx);
  if (command == "run") return syspgo::cli::RunCommand(args, ctx);
  if (command == "build-image") return syspgo::cli::BuildImageCommand(args, ctx);
  if (command == "trace") return syspgo::cli::TraceCommand(args, ctx);
  if (command == "image") return syspgo::cli::ImageCommand(args, ctx);
  if (command == "mount") return syspgo::cli::MountCommand(args, ctx);
  if (command == "umount") return syspgo::cli::UmountCommand(args, ctx);
  if (command == "images") return syspgo::cli::ImagesCommand(args, ctx);
  if (command == "rmi") return syspgo::cli::RmiCommand(args, ctx);
  if (command == "gc") return syspgo::cli::GcCommand(args, ctx);
  if (command == "cleanup") return syspgo::cli::CleanupCommand(args, ctx);
  if (command == "profile") return syspgo::cli::ProfileCommand(args, ctx);
  if (command == "sched") return syspgo::cli::SchedCommand(args, ctx);
  if (command == "snapshotter") return syspgo::cli::ExecSnapshotter(args);
  if (command == "version" || command == "--version") {
    std::printf("syspgo %s\n", SYSPGO_VERSION);
    return 0;
  }
  std::fprintf(stderr, "syspgo: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return syspgo::cli::kExitUsage;
}
