// SPDX-License-Identifier: Apache-2.0
// syspgo profile record: CPU profiles of a process tree, a cgroup or the
// whole system (profile/recorder.h, profile/profile_writer.h).
#include <signal.h>
#include <unistd.h>

#include <cinttypes>
#include <set>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/process.h"
#include "oci/reference.h"
#include "node/containers.h"
#include "oci/puller.h"
#include "oci/registry_client.h"
#include "profile/artifact.h"
#include "profile/merge.h"
#include "profile/profile_writer.h"
#include "profile/recorder.h"

namespace syspgo::cli {
namespace {

constexpr char kUsage[] = R"(USAGE: syspgo profile record [OPTIONS] [-- CMD ARGS...]

Samples where CPUs spend their time with eBPF (the cpu-clock event on every
CPU, frame-pointer stacks counted in the kernel) and writes, from one
recording, for each binary and shared library named by file and build-id:
  NAME-BUILDID.llvmprof  LLVM sample profile (clang -fprofile-sample-use)
  NAME-BUILDID.pprof     pprof (go build -pgo, go tool pprof)
  NAME-BUILDID.folded    folded stacks (flame graphs)
and all.folded and an index, profiles.json. Frames are kept as (build-id,
file offset): the same binary is the same profile on every host and in
every container. Source lines come from DWARF (build with -g; clang:
-fdebug-info-for-profiling).

What is sampled (one of):
  -- CMD ARGS     a command started here, and its children (until it exits)
  --pid PID       a running process and the processes it starts
  --cgroup PATH   a cgroup v2 directory (/sys/fs/cgroup/unified/... on hybrid hosts)
  --image IMAGE   the containers of IMAGE on this node (started by syspgo run or
                  the syspgo snapshotter; those starting while recording too)
  --all           every process on the machine

OPTIONS:
  --duration S    stop after S seconds (default 10; with CMD: when it exits)
  --freq HZ       samples per second per CPU (default 99)
  -o, --output DIR  where the profiles go (default ./profile)
  --insecure-registry HOST, --authfile FILE   for --image (its digest and layers)
  --debug-dir DIR   more places for debug files (as /usr/lib/debug:
                    .build-id/xx/yyyy.debug, or by debuglink name); the
                    binary itself, .debug/ beside it and /usr/lib/debug
                    are always searched
  --llvm-weights counts|samples
                  what .llvmprof lines hold: execution counts estimated from
                  the samples (default; docs/profile.md, Estimating counts)
                  or the samples themselves (time, for comparisons)
  --min-function-samples N
                  functions with fewer samples get no counts, so that clang
                  optimizes them as without a profile (default 0: on the
                  corpus, leaving out functions with few samples cost more
                  than their noise; docs/profile.md)
  -v              libbpf's messages

EXAMPLES:
  syspgo profile record -o prof -- ./bench --iterations 1000
  syspgo profile record --all --duration 30 -o fleet-node
)";

constexpr char kMergeUsage[] = R"(USAGE: syspgo profile merge -o OUT [--by-name] DIR...

Adds up profile directories written by `syspgo profile record` (runs,
hosts): per binary (build-id), LLVM profiles by function, line offset and
discriminator, pprof by stack, folded stacks by line. Sampling at 99-999 Hz
says little about a function in one run; many runs say more.

OPTIONS:
  -o, --output OUT  where the merged profiles go
  --by-name         merge every build of a file name into one profile
                    (OUT/NAME.llvmprof, ...): LLVM profiles are keyed by
                    function name and line offset from the function's start,
                    so an older build's profile still applies to a new one
                    where the functions did not change

EXAMPLES:
  syspgo profile merge -o fleet node1/prof node2/prof node3/prof
  syspgo profile merge --by-name -o sqlite-next last-week/*
)";

constexpr char kPushUsage[] = R"(USAGE: syspgo profile push [OPTIONS] IMAGE DIR

Stores the profile directory DIR (from record or merge) in IMAGE's
repository as an OCI artifact whose subject is the image: every node of a
fleet can push what it recorded; `syspgo profile pull` gets them all.

OPTIONS:
  --insecure-registry HOST  plain HTTP for HOST
  --authfile FILE           docker config.json with credentials
  -v                        more messages

EXAMPLE:
  syspgo profile record --all --duration 60 -o prof && \
    syspgo profile push registry.example/app:1.4 prof
)";

constexpr char kPullUsage[] = R"(USAGE: syspgo profile pull [OPTIONS] IMAGE DIR

Fetches every profile pushed for IMAGE (checked against their digests) and
writes them merged, per binary, to DIR: the fleet's profile for the next
build (clang -fprofile-sample-use=DIR/NAME-BUILDID.llvmprof, go build
-pgo=DIR/NAME-BUILDID.pprof; syspgo profile merge --by-name for a new
build).

OPTIONS:
  --insecure-registry HOST  plain HTTP for HOST
  --authfile FILE           docker config.json with credentials
  -v                        more messages
)";

constexpr char kProfileUsage[] = R"(USAGE: syspgo profile SUBCOMMAND

  record   sample CPUs and write profiles per binary (LLVM, pprof, folded)
  merge    add up profiles of many runs and hosts
  push     store a profile directory as an OCI artifact of an image
  pull     fetch every profile of an image, merged

`syspgo profile SUBCOMMAND --help` tells more.
)";

int MergeCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"output", true, 'o'}, {"by-name", false}, {"help", false, 'h'}});
  if (!args.ok()) return Usage(kMergeUsage, args.status());
  if (args->Has("help")) return Usage(kMergeUsage);
  auto out = args->Get("output");
  if (!out) return Usage(kMergeUsage, InvalidArgument("say where the merged profiles go (-o OUT)"));
  if (args->positional.empty())
    return Usage(kMergeUsage, InvalidArgument("name the profile directories to merge"));
  profile::MergeOptions options;
  options.by_name = args->Has("by-name");
  auto summary = profile::MergeProfiles(args->positional, *out, options);
  if (!summary.ok()) return Fail(summary.status());
  std::fprintf(stderr,
               "syspgo: %d profile directories merged: %d profiles, %" PRIu64 " samples, in %s\n",
               summary->inputs, summary->profiles, summary->samples, out->c_str());
  return 0;
}

// push and pull: IMAGE DIR against the image's registry.
int ArtifactCommand(const std::string& sub, const std::vector<std::string>& argv,
                    const CommandContext& ctx) {
  const char* usage = sub == "push" ? kPushUsage : kPullUsage;
  auto args = ParseArgs(argv, WithCommon({}));
  if (!args.ok()) return Usage(usage, args.status());
  if (args->Has("help")) return Usage(usage);
  if (args->positional.size() != 2)
    return Usage(usage, InvalidArgument(sub + " takes IMAGE and DIR"));
  auto ref = oci::ImageReference::Parse(args->positional[0]);
  if (!ref.ok()) return Usage(usage, ref.status());
  auto setup = MakeRegistrySetup(*args, ctx);
  if (!setup.ok()) return Fail(setup.status());
  const std::string& dir = args->positional[1];
  if (sub == "push") {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    auto pushed = profile::PushImageProfiles((*setup)->options, *ref, dir, host);
    if (!pushed.ok()) return Fail(pushed.status());
    std::printf("pushed %d files of %s as %s@%s (profile of %s)\n", pushed->files, dir.c_str(),
                ref->repository.c_str(), pushed->artifact.ToString().c_str(),
                pushed->image.ToString().c_str());
    return 0;
  }
  auto pulled = profile::PullImageProfiles((*setup)->options, *ref, dir);
  if (!pulled.ok()) return Fail(pulled.status());
  std::printf("pulled %d profile artifacts of %s: %d profiles, %" PRIu64 " samples, merged in %s\n",
              pulled->artifacts, ref->ToString().c_str(), pulled->profiles, pulled->samples,
              dir.c_str());
  return 0;
}

}  // namespace

int ProfileCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  if (!argv.empty() && argv[0] == "merge") return MergeCommand({argv.begin() + 1, argv.end()});
  if (!argv.empty() && (argv[0] == "push" || argv[0] == "pull")) {
    return ArtifactCommand(argv[0], {argv.begin() + 1, argv.end()}, ctx);
  }
  if (argv.empty() || argv[0] != "record") {
    if (!argv.empty() && (argv[0] == "--help" || argv[0] == "-h")) return Usage(kProfileUsage);
    return Usage(kProfileUsage,
                 InvalidArgument("profile needs a subcommand: record, merge, push or pull"));
  }
  std::vector<std::string> rest(argv.begin() + 1, argv.end());
  auto args = ParseArgs(rest,
                        {{"duration", true},
                         {"freq", true},
                         {"pid", true},
                         {"cgroup", true},
                         {"all", false},
                         {"image", true},
                         {"output", true, 'o'},
                         {"debug-dir", true},
                         {"llvm-weights", true},
                         {"min-function-samples", true},
                         {"insecure-registry", true},
                         {"authfile", true},
                         {"verbose", false, 'v'},
                         {"help", false, 'h'}},
                        /*stop_after_positionals=*/0);
  if (!args.ok()) return Usage(kUsage, args.status());
  if (args->Has("help")) return Usage(kUsage);
  const bool has_cmd = !args->rest.empty() || !args->positional.empty();
  const int targets = (has_cmd ? 1 : 0) + (args->Has("pid") ? 1 : 0) +
                      (args->Has("cgroup") ? 1 : 0) + (args->Has("all") ? 1 : 0) +
                      (args->Has("image") ? 1 : 0);
  if (targets != 1) {
    return Usage(
        kUsage,
        InvalidArgument("say what to sample: -- CMD, --pid, --cgroup, --image or --all (one)"));
  }
  auto freq = args->GetInt("freq", 99, 1, 10000);
  if (!freq.ok()) return Usage(kUsage, freq.status());
  auto duration = args->GetInt("duration", has_cmd ? 24 * 3600 : 10, 1, 24 * 3600);
  if (!duration.ok()) return Usage(kUsage, duration.status());
  profile::WriteOptions write;
  for (const std::string& d : args->GetAll("debug-dir")) write.debug_dirs.push_back(d);
  const std::string weights = args->Get("llvm-weights").value_or("counts");
  if (weights == "samples") {
    write.llvm_weights = profile::LlvmWeights::kSamples;
  } else if (weights != "counts") {
    return Usage(kUsage, InvalidArgument("--llvm-weights: counts or samples, not " + weights));
  }
  auto min_samples = args->GetInt(
      "min-function-samples", static_cast<int>(profile::kDefaultMinFunctionSamples), 0, 1000000000);
  if (!min_samples.ok()) return Usage(kUsage, min_samples.status());
  write.min_function_samples = static_cast<uint64_t>(*min_samples);
  if (::geteuid() != 0)
    return Fail(PermissionDenied("profiling needs root (BPF, perf events); try sudo"));
  Logger log(args->Has("verbose") ? LogLevel::kDebug : LogLevel::kWarning);
  profile::RecordOptions options;
  options.frequency = *freq;
  options.log = &log;
  auto recorder = profile::Recorder::Create(options);
  if (!recorder.ok()) return Fail(recorder.status());
  Subprocess child;
  std::optional<node::ImageProcessFollower> image;  // --image: its containers, new ones too
  if (has_cmd) {
    std::vector<std::string> cmd = args->positional;
    cmd.insert(cmd.end(), args->rest.begin(), args->rest.end());
    // Held until it is tracked: a shell that forks its first command at
    // once would otherwise leave the recording empty.
    SpawnOptions held;
    held.held = true;
    auto spawned = Subprocess::Spawn(cmd, held);
    if (!spawned.ok()) return Fail(spawned.status());
    child = std::move(*spawned);
    if (Status st = (*recorder)->TrackProcess(child.pid()); !st.ok()) return Fail(st);
  } else if (auto pid = args->Get("pid")) {
    char* end = nullptr;
    const long p = std::strtol(pid->c_str(), &end, 10);
    if (p <= 0 || *end) return Usage(kUsage, InvalidArgument("--pid needs a process id"));
    if (::kill(static_cast<pid_t>(p), 0) != 0)
      return Fail(ErrnoStatus(errno, "find process", *pid));
    if (Status st = (*recorder)->TrackProcess(static_cast<pid_t>(p)); !st.ok()) return Fail(st);
  } else if (auto cg = args->Get("cgroup")) {
    if (Status st = (*recorder)->TrackCgroup(*cg); !st.ok()) return Fail(st);
  } else if (auto image_ref = args->Get("image")) {
    auto ref = oci::ImageReference::Parse(*image_ref);
    if (!ref.ok()) return Usage(kUsage, ref.status());
    auto setup = MakeRegistrySetup(*args, ctx);
    if (!setup.ok()) return Fail(setup.status());
    auto id = node::ResolveImageIdentity(*ref, **setup);
    if (!id.ok()) return Fail(id.status());
    image.emplace(*id, [&](pid_t p) { return (*recorder)->TrackProcess(p); });
    if (image->Poll() == 0)
      return Fail(NotFound("no container of " + *image_ref + " runs on this node"));
  } else {
    (*recorder)->TrackAll();
  }
  (*recorder)->Start();
  if (Status st = child.Start(); !st.ok()) return Fail(st);
  const auto deadline = SteadyClock::now() + std::chrono::seconds(*duration);
  std::optional<ExitInfo> exit;
  while (!ctx.cancel->cancelled() && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (*recorder)->Refresh();
    if (image) image->PollIfDue();  // containers of the image started since
    if (child.running()) {
      auto done = child.TryWait();
      if (done.ok() && *done) {
        exit = **done;
        break;
      }
    }
  }
  auto recording = (*recorder)->Stop();
  if (!recording.ok()) return Fail(recording.status());
  const std::string dir = args->Get("output").value_or("profile");
  auto summary = profile::WriteProfiles(*recording, dir, write);
  if (!summary.ok()) return Fail(summary.status());
  std::fprintf(stderr,
               "syspgo: %" PRIu64 " samples in %.1f s at %d Hz; %d binaries; lost: %" PRIu64
               " user stacks, %" PRIu64 " keys; %" PRIu64 " truncated; profiles in %s\n",
               summary->samples, recording->seconds, recording->frequency, summary->binaries,
               recording->stats.lost_user_stacks, recording->stats.lost_keys,
               recording->stats.truncated_stacks, dir.c_str());
  // What the LLVM profiles rest on, for the binaries with a share of the
  // samples: the halves' agreement is what a longer recording raises.
  for (const profile::LlvmProfileNote& n : summary->llvm) {
    if (n.samples < 100 || n.samples * 100 < summary->samples) continue;
    std::fprintf(stderr,
                 "syspgo: LLVM profile of %s: %" PRIu64
                 " samples, counted per %s; the recording's halves agree %.0f%%\n",
                 n.path.c_str(), n.samples,
                 n.blocks ? "machine block" : "source line (no -fbasic-block-address-map)",
                 n.halves_agree * 100);
  }
  if (exit && !exit->success()) return exit->ShellCode();
  return 0;
}

}  // namespace syspgo::cli
