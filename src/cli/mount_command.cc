// SPDX-License-Identifier: Apache-2.0
// syspgo mount / syspgo umount: an image's lazy root file system alone, for
// other runtimes.
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <sys/stat.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "node/image_source.h"
#include "node/mount_server_protocol.h"
#include "node/shared_mount.h"
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
(<root>/shared/<manifest digest>/mnt), which every `syspgo run` of IMAGE
and the containerd snapshotter with the same --root use (one registry
request; the kernel's caches of the mount outlive each container) until it
is unmounted. Without one, they start a shared mount of their own that
ends with its last user (docs/node.md).

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
  --root, --insecure-registry, --tls-verify, --certs-dir, --authfile, -v:
                           as for pull

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
  auto args = ParseArgs(argv, WithCommon(WithLazyOptions({{"mode", true},
                                                          {"stats-json", true},
                                                          {"shared", false},
                                                          {"exit-unreferenced", false},
                                                          {"expect-digest", true},
                                                          {"manifest-stdin", false}})));
  if (!args.ok()) return Usage(kMountUsage, args.status());
  if (args->Has("help")) return Usage(kMountUsage);
  const bool shared = args->Has("shared");
  if (args->positional.size() != (shared ? 1u : 2u)) {
    return Usage(kMountUsage, InvalidArgument(shared ? "mount --shared takes IMAGE alone"
                                                     : "mount needs IMAGE and DIR"));
  }
  // Started by a node front end (node/shared_mount.h): it reads the
  // outcome on stdout, "mounted ..." or "error CODE MESSAGE".
  const bool node_server = args->Has("exit-unreferenced");
  if (node_server && !shared) {
    return Usage(kMountUsage, InvalidArgument("--exit-unreferenced needs --shared"));
  }
  auto fail = [&](const Status& st) {
    if (node_server) {
      std::fputs(node::ErrorLine(st).c_str(), stdout);
      std::fflush(stdout);
    }
    return Fail(st);
  };
  auto options = ParseLazyOptions(*args);
  if (!options.ok()) return Usage(kMountUsage, options.status());
  std::optional<fs::LazyMode> mode;
  if (auto m = args->Get("mode")) {
    auto parsed = fs::ParseLazyMode(*m);
    if (!parsed.ok()) return Usage(kMountUsage, parsed.status());
    mode = *parsed;
  }
  if (::geteuid() != 0) return fail(PermissionDenied("mount needs root; try sudo"));
  if (!shared) {
    // The mount point first: a missing one is not a FUSE problem.
    struct stat st;
    const std::string& dir = args->positional[1];
    if (::stat(dir.c_str(), &st) != 0) return fail(ErrnoStatus(errno, "mount point", dir));
    if (!S_ISDIR(st.st_mode))
      return fail(InvalidArgument("mount point " + dir + " is not a directory"));
  }
  auto ref = oci::ImageReference::Parse(args->positional[0]);
  if (!ref.ok()) return fail(ref.status());
  auto setup = MakeRegistrySetup(*args, ctx);
  if (!setup.ok()) return fail(setup.status());
  auto policy = LoadTrustPolicy(*args);
  if (!policy.ok()) return fail(policy.status());
  auto private_root = StoreRoot(*args);
  if (!private_root.ok()) return fail(private_root.status());
  const std::string& root = *private_root;
  // The manifest its starter resolved: handed over on stdin and checked
  // against the digest (node/mount_server_protocol.h), or fetched by the
  // digest (whatever the tag names by now).
  node::PinnedManifest pinned;
  if (auto expect = args->Get("expect-digest")) {
    auto read = node::ReadServerPin(*expect, args->Has("manifest-stdin") ? 0 : -1, **setup);
    if (!read.ok()) return fail(read.status());
    pinned = std::move(*read);
  } else if (args->Has("manifest-stdin")) {
    return fail(InvalidArgument("--manifest-stdin needs --expect-digest"));
  }
  auto lazy = node::LocateLazyImage(*ref, **setup, *policy,
                                    mode && *mode != fs::LazyMode::kRuntimeImage, pinned);
  if (!lazy.ok()) return fail(lazy.status());
  if (!mode) {
    mode = node::AutoMode(**lazy);
    if (!mode) mode = fs::LazyMode::kRuntimeImage;  // MountLazyImage says why not
  }
  auto say = [](const std::string& line) {
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
  };
  auto say_settled = [&] { say(node::SettledLine()); };
  if (shared) {
    node::SharedMounts(root, setup->get()).CleanupStale(&(*setup)->log);
    auto server =
        node::SharedMountServer::Start(root, **lazy, *mode, *options, **setup, node_server);
    if (!server.ok()) return fail(server.status());
    say(node::MountedLine(ref->ToString(), (*server)->mnt(), fs::LazyModeName(*mode)));
    Status st = (*server)->Serve(*ctx.cancel, say_settled);
    if (auto path = args->Get("stats-json")) {
      Status written =
          WriteFileAtomic(*path, (*server)->Stats().ToJson().dump(2) + "\n", 0644, false);
      if (!written.ok()) return Fail(written);
    }
    if (!st.ok()) return Fail(st);
    return 0;
  }
  const std::string dir = args->positional[1];
  if (fs::IsFuseMount(dir)) {
    return Fail(FailedPrecondition(dir + " is a FUSE mount already (`syspgo umount " + dir +
                                   "` removes it)"));
  }
  auto mounted = node::MountLazyImage(**lazy, *mode, *options, root, **setup, dir);
  if (!mounted.ok()) return Fail(mounted.status());
  say(node::MountedLine(ref->ToString(), dir, fs::LazyModeName(*mode)));
  bool settled = false;
  while (!ctx.cancel->cancelled() && !(*mounted)->ended()) {
    if (!settled && (*mounted)->WaitSettled(std::chrono::milliseconds(0))) {
      settled = true;
      say_settled();
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
