// SPDX-License-Identifier: Apache-2.0
// syspgo mount / syspgo umount: an image's lazy root file system alone, for
// other runtimes.
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/lazy_image.h"
#include "common/file_util.h"

namespace syspgo::cli {
namespace {

constexpr char kMountUsage[] = R"(USAGE: syspgo mount [OPTIONS] IMAGE DIR
       syspgo mount --shared [OPTIONS] IMAGE

Mounts IMAGE's root file system at DIR (read-only) without pulling it,
from its runtime image (`syspgo image optimize` makes one): metadata in
memory, file bytes on demand or pushed into the page cache. Runs in the
foreground until SIGINT/SIGTERM or `syspgo umount DIR`, then unmounts.
Prints "mounted" when DIR is ready and "settled" when every runtime image
chunk is in the page cache (or every traced file is local).

With --shared, the mount is the node's shared mount of IMAGE
(<root>/shared/<manifest digest>/mnt): every `syspgo run` of IMAGE with the
same --root then starts from it (one registry request; the kernel's caches
of the mount outlive each container) instead of mounting its own.

OPTIONS:
  --shared             the node's shared mount of IMAGE (no DIR)
  --mode MODE          rtimage (default when the runtime image holds data),
                       prefetch or lazy (see `syspgo run --help`)
  --streams N          parallel Range requests for the runtime image (2)
  --fetch-timeout SECS a registry request that moves no data for SECS
                       fails, and so does a read waiting longer (10); see
                       `syspgo run --help`
  --trust-policy FILE  which runtime images to use (see `syspgo run --help`)
  --stats-json FILE    write the counters as JSON when unmounted
  --root DIR, --insecure-registry HOST, --authfile FILE, -v: as for pull

EXAMPLES:
  syspgo mount 127.0.0.1:5000/python:numpy /mnt/numpy &
  syspgo umount /mnt/numpy
)";

constexpr char kUmountUsage[] = R"(USAGE: syspgo umount DIR

Unmounts a root file system mounted with `syspgo mount`; its daemon then
exits. A mount whose daemon died is detached.
)";

}  // namespace

int MountCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  auto args = ParseArgs(argv, WithCommon(WithLazyOptions(
                                  {{"mode", true}, {"stats-json", true}, {"shared", false}})));
  if (!args.ok()) return Usage(kMountUsage, args.status());
  if (args->Has("help")) return Usage(kMountUsage);
  const bool shared = args->Has("shared");
  if (args->positional.size() != (shared ? 1u : 2u)) {
    return Usage(kMountUsage, InvalidArgument(shared ? "mount --shared takes IMAGE alone"
                                                     : "mount needs IMAGE and DIR"));
  }
  auto options = ParseLazyOptions(*args);
  if (!options.ok()) return Usage(kMountUsage, options.status());
  std::optional<fs::LazyMode> mode;
  if (auto m = args->Get("mode")) {
    auto parsed = fs::ParseLazyMode(*m);
    if (!parsed.ok()) return Usage(kMountUsage, parsed.status());
    mode = *parsed;
  }
  if (::geteuid() != 0) return Fail(PermissionDenied("mount needs root; try sudo"));
  auto ref = oci::ImageReference::Parse(args->positional[0]);
  if (!ref.ok()) return Fail(ref.status());
  auto setup = RegistrySetup::Make(*args, ctx);
  if (!setup.ok()) return Fail(setup.status());
  auto policy = LoadTrustPolicy(*args);
  if (!policy.ok()) return Fail(policy.status());
  auto private_root = StoreRoot(*args);
  if (!private_root.ok()) return Fail(private_root.status());
  const std::string& root = *private_root;
  auto lazy = LocateLazyImage(*ref, **setup, *policy,
                              mode && *mode != fs::LazyMode::kRuntimeImage);
  if (!lazy.ok()) return Fail(lazy.status());
  // Destroyed after the mount: removes the shared mount's directory.
  fs::MountDir shared_dir;
  std::string dir;
  if (shared) {
    fs::CleanupStaleMounts(root, &(*setup)->log);
    auto made = fs::MountDir::CreateAt(SharedMountDir(root, (*lazy)->image.manifest_digest));
    if (!made.ok()) return Fail(made.status());
    shared_dir = std::move(*made);
    dir = shared_dir.mnt();
    Status st = WriteFileAtomic(JoinPath(DirName(dir), "config.json"), (*lazy)->config_bytes,
                                0600, false);
    if (!st.ok()) return Fail(st);
  } else {
    dir = args->positional[1];
  }
  if (fs::IsFuseMount(dir)) {
    return Fail(FailedPrecondition(dir + " is a FUSE mount already (`syspgo umount " + dir +
                                   "` removes it)"));
  }
  if (!mode) {
    mode = (*lazy)->source && (*lazy)->source->blob.size > 0 ? fs::LazyMode::kRuntimeImage
                                                              : fs::LazyMode::kLazy;
  }
  auto mounted = MountLazyImage(**lazy, *mode, *options, root, **setup, dir);
  if (!mounted.ok()) return Fail(mounted.status());
  std::printf("mounted %s at %s (mode %s)\n", ref->ToString().c_str(), dir.c_str(),
              std::string(fs::LazyModeName(*mode)).c_str());
  std::fflush(stdout);
  bool settled = false;
  while (!ctx.cancel->cancelled() && !(*mounted)->ended()) {
    if (!settled && (*mounted)->WaitSettled(std::chrono::milliseconds(0))) {
      settled = true;
      std::printf("settled\n");
      std::fflush(stdout);
    }
    (*mounted)->WaitEnded(std::chrono::milliseconds(20));
  }
  Status st = (*mounted)->Stop();
  if (auto path = args->Get("stats-json")) {
    Status written = WriteFileAtomic(*path, (*mounted)->Stats().dump(2) + "\n", 0644, false);
    if (!written.ok()) return Fail(written);
  }
  if (!st.ok()) return Fail(st);
  return 0;
}

int UmountCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  (void)ctx;
  auto args = ParseArgs(argv, {{"help", false, 'h'}});
  if (!args.ok()) return Usage(kUmountUsage, args.status());
  if (args->Has("help")) return Usage(kUmountUsage);
  if (args->positional.size() != 1) return Usage(kUmountUsage, InvalidArgument("umount needs DIR"));
  const std::string& dir = args->positional[0];
  if (!fs::IsFuseMount(dir)) {
    return Fail(FailedPrecondition(dir + " is not a FUSE mount"));
  }
  // A clean unmount first; a busy or dead one is detached.
  if (::umount2(dir.c_str(), 0) != 0 && ::umount2(dir.c_str(), MNT_DETACH) != 0) {
    return Fail(ErrnoStatus(errno, "umount", dir));
  }
  return 0;
}

}  // namespace syspgo::cli
