// SPDX-License-Identifier: Apache-2.0
// syspgo snapshotter: containerd's remote snapshotter (snapshotter/), a
// daemon in the foreground.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "rtimage/trust_policy.h"
#include "cli/commands.h"
#include "common/file_util.h"
#include "snapshotter/service.h"
#include "snapshotter/snapshotter.h"

namespace syspgo::cli {
namespace {

constexpr char kUsage[] = R"(USAGE: syspgo snapshotter [OPTIONS]

containerd's remote snapshotter for images with a runtime image: a daemon
(foreground, until SIGINT/SIGTERM) serving containerd's snapshots API on a
unix socket, for containerd's proxy_plugins (docs/containerd.md has the
containerd configuration). Layers of an image whose runtime image the trust
policy accepts are neither fetched nor unpacked: the image's root file
system is the node's shared mount of it, and each container gets an
overlayfs upper directory over it. Other images are unpacked by containerd
into overlayfs snapshots here, as with containerd's overlayfs snapshotter.
Restarting it (even with SIGKILL) does not disturb running containers.

OPTIONS:
  --address SOCK       the socket (default /run/syspgo/snapshotter.sock)
  --config FILE        JSON: {"address", "root", "insecure_registries": [..],
                       "authfile", "trust_policy", "mode", "fetch_timeout",
                       "streams", "metrics_file"}; flags win over it
  --metrics-file FILE  Prometheus text format, rewritten every 5 s (for
                       node_exporter's textfile collector)
  --mode MODE          rtimage or lazy for images with a runtime image
                       (default: rtimage when it holds data, else lazy)
  --fetch-timeout S, --streams N, --trust-policy FILE: as for `syspgo run`
  --root, --insecure-registry, --tls-verify, --certs-dir, --authfile, -v:
                           as for pull

EXAMPLES:
  syspgo snapshotter --address /run/syspgo/snapshotter.sock
)";

// The configuration file's values become flags where no flag was given.
Result<std::vector<std::string>> WithConfig(std::vector<std::string> argv) {
  std::string path;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "--config") path = argv[i + 1];
  }
  if (path.empty()) return argv;
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return InvalidArgument(path + ": not a JSON object");
  auto given = [&](const std::string& flag) {
    for (const std::string& a : argv) {
      if (a == flag || a.starts_with(flag + "=")) return true;
    }
    return false;
  };
  std::vector<std::string> extra;
  const std::vector<std::pair<std::string, std::string>> scalars = {
      {"address", "--address"},
      {"root", "--root"},
      {"authfile", "--authfile"},
      {"trust_policy", "--trust-policy"},
      {"mode", "--mode"},
      {"fetch_timeout", "--fetch-timeout"},
      {"streams", "--streams"},
      {"metrics_file", "--metrics-file"},
      {"tls_verify", "--tls-verify"}};
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    // Lists: one flag per entry.
    const std::vector<std::pair<std::string, std::string>> lists = {
        {"insecure_registries", "--insecure-registry"}, {"certs_dirs", "--certs-dir"}};
    auto l =
        std::find_if(lists.begin(), lists.end(), [&](const auto& p) { return p.first == key; });
    if (l != lists.end()) {
      if (!it.value().is_array()) return InvalidArgument(path + ": " + key + " must be a list");
      if (given(l->second)) continue;
      for (const auto& h : it.value()) {
        if (!h.is_string()) return InvalidArgument(path + ": " + key + " must be strings");
        extra.insert(extra.end(), {l->second, h.get<std::string>()});
      }
      continue;
    }
    auto s =
        std::find_if(scalars.begin(), scalars.end(), [&](const auto& p) { return p.first == key; });
    if (s == scalars.end()) return InvalidArgument(path + ": unknown setting \"" + key + "\"");
    if (given(s->second)) continue;
    std::string value = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    extra.insert(extra.end(), {s->second, value});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

}  // namespace

int SnapshotterCommand(const std::vector<std::string>& raw, const CommandContext& ctx) {
  auto argv = WithConfig(raw);
  if (!argv.ok()) return Usage(kUsage, argv.status());
  auto args = ParseArgs(
      *argv, WithCommon(WithLazyOptions(
                 {{"address", true}, {"config", true}, {"metrics-file", true}, {"mode", true}})));
  if (!args.ok()) return Usage(kUsage, args.status());
  if (args->Has("help")) return Usage(kUsage);
  if (!args->positional.empty())
    return Usage(kUsage, InvalidArgument("snapshotter takes no arguments"));
  auto lazy_options = ParseLazyOptions(*args);
  if (!lazy_options.ok()) return Usage(kUsage, lazy_options.status());
  snapshotter::SnapshotterOptions options;
  if (auto m = args->Get("mode")) {
    auto mode = fs::ParseLazyMode(*m);
    if (!mode.ok() || *mode == fs::LazyMode::kPrefetch) {
      return Usage(kUsage, InvalidArgument("--mode must be rtimage or lazy"));
    }
    options.mode = *mode;
  }
  if (::geteuid() != 0) return Fail(PermissionDenied("the snapshotter needs root; try sudo"));
  auto setup = MakeRegistrySetup(*args, ctx);
  if (!setup.ok()) return Fail(setup.status());
  if (!args->Has("verbose")) (*setup)->log = Logger(LogLevel::kInfo);
  // The policy file is followed: a change (or SIGHUP) reloads it.
  auto policy = rtimage::WatchedTrustPolicy::Open(args->Get("trust-policy").value_or(""));
  if (!policy.ok()) return Fail(policy.status());
  auto root = StoreRoot(*args);
  if (!root.ok()) return Fail(root.status());
  options.root = *root;
  // Mount servers are `syspgo mount --shared`: the syspgo binary beside
  // this one.
  options.binary = JoinPath(DirName(SelfBinary()), "syspgo");
  options.server_args = MountServerArgs(*args, *root);
  options.server_log = MountServerLog(*root);
  auto sn = snapshotter::Snapshotter::Open(std::move(options), setup->get(), policy->policy());
  if (!sn.ok()) return Fail(sn.status());
  if (Status st = (*sn)->Cleanup(); !st.ok()) (*setup)->log.Warning("cleanup: " + st.message());
  snapshotter::ServeOptions so;
  so.address = args->Get("address").value_or("/run/syspgo/snapshotter.sock");
  so.metrics_file = args->Get("metrics-file").value_or("");
  so.log = &(*setup)->log;
  static std::atomic<bool> hangup{false};
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = [](int) { hangup = true; };
  sigaction(SIGHUP, &sa, nullptr);
  so.on_tick = [&] {
    const bool forced = hangup.exchange(false);
    auto changed = policy->Refresh(forced);
    if (!changed.ok()) {
      (*sn)->counters().policy_reload_errors++;
      (*setup)->log.Error(changed.status().message());
    } else if (*changed) {
      (*sn)->SetPolicy(policy->policy());
      (*setup)->log.Info("trust policy " + policy->path() + " loaded" +
                         (forced ? " (SIGHUP)" : " (the file changed)"));
    }
  };
  so.on_ready = [&] {
    std::printf("serving containerd's snapshots API on %s (store %s)\n", so.address.c_str(),
                root->c_str());
    std::fflush(stdout);
  };
  Status st = snapshotter::Serve(sn->get(), so, *ctx.cancel);
  if (!st.ok()) return Fail(st);
  return 0;
}

}  // namespace syspgo::cli
