// SPDX-License-Identifier: Apache-2.0
#include "cli/commands.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/cli_util.h"
#include "node/image_source.h"
#include "node/registry_config.h"
#include "node/shared_mount.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "common/log.h"
#include "fs/mounted_image.h"
#include "oci/auth.h"
#include "oci/image_builder.h"
#include "oci/layer_store.h"
#include "oci/progress.h"
#include "oci/puller.h"
#include "run/container.h"
#include "sched/tags.h"

namespace syspgo::cli {
namespace {

constexpr char kPullUsage[] = R"(USAGE: syspgo pull [OPTIONS] IMAGE
       syspgo pull --containerd-address SOCK [--namespace NS] IMAGE

Pulls IMAGE into the local store: manifest, config and every missing layer
(in parallel, each verified against its digest and its diff_id while it
streams, and unpacked on the fly).

With --containerd-address, pulls IMAGE into that containerd instead, through
the syspgo snapshotter, with the labels a remote snapshotter needs (as
Kubernetes' CRI sets them): when IMAGE has a runtime image, no layer is
downloaded, and `ctr run --snapshotter syspgo IMAGE` starts from it
(docs/containerd.md).

OPTIONS:
  --containerd-address SOCK  containerd's socket
  --namespace NS             containerd namespace (default "default")
  --snapshotter NAME         the snapshotter's name in containerd's
                             proxy_plugins (default "syspgo")
  --jobs N                 layers fetched at once (default 4)
  --no-progress            no progress display even on a terminal
  --stats-json FILE        write pull statistics as JSON
  --root DIR               store directory (default /var/lib/syspgo, or $SYSPGO_ROOT)
  --insecure-registry HOST allow plain HTTP to HOST (loopback is, unless
                           a certs.d directory configures it)
  --tls-verify=false       TLS without certificate checks (not plain HTTP)
  --certs-dir DIR          certs.d directory: DIR/HOST/hosts.toml (mirrors,
                           CAs, client keys) and DIR/HOST/*.crt; repeatable
                           (default /etc/containerd/certs.d, /etc/docker/certs.d)
  --authfile FILE          docker config.json: auths, credHelpers, credsStore
                           (default $DOCKER_CONFIG or ~/.docker/config.json)
  -v, --verbose            log retries and progress details

EXAMPLES:
  syspgo pull 127.0.0.1:5000/busybox:test
  syspgo pull --jobs 8 registry.example.com/app@sha256:...
)";

// `pull --containerd-address`: containerd's own Go client does the pull
// (tools/containerd-pull: image record, content, leases, garbage collection
// labels and unpacking exactly as containerd does them), with the remote
// snapshotter labels added to each layer, against the registry as this
// node's configuration describes it (node/registry_config.h).
int PullIntoContainerd(const ParsedArgs& args, const CommandContext& ctx,
                       const std::string& address) {
  auto ref = oci::ImageReference::Parse(args.positional[0]);
  if (!ref.ok()) return Fail(ref.status());
  std::string helper = JoinPath(DirName(SelfBinary()), "syspgo-containerd-pull");
  if (const char* env = std::getenv("SYSPGO_CONTAINERD_PULL"); env && *env) helper = env;
  if (!PathExists(helper)) {
    return Fail(NotFound(helper + " is missing (it is built with syspgo when Go is installed)"));
  }
  auto setup = RegistrySetup::Make(args, ctx);
  if (!setup.ok()) return Fail(setup.status());
  auto config = node::RegistryConfigForHelper(*ref, **setup);
  if (!config.ok()) return Fail(config.status());
  const std::string text = config->dump();
  int memfd = ::memfd_create("syspgo-registry-config", MFD_CLOEXEC);
  if (memfd < 0) return Fail(ErrnoStatus(errno, "memfd_create"));
  UniqueFd config_fd = UniqueFd::Adopt(memfd);
  Status written = WriteAll(config_fd.get(), std::string_view(text), "registry configuration");
  if (!written.ok()) return Fail(written);
  if (::lseek(config_fd.get(), 0, SEEK_SET) != 0 || ::dup2(config_fd.get(), STDIN_FILENO) < 0) {
    return Fail(ErrnoStatus(errno, "registry configuration to the helper's stdin"));
  }
  std::vector<std::string> cmd = {helper,
                                  "--address",
                                  address,
                                  "--namespace",
                                  args.Get("namespace").value_or("default"),
                                  "--snapshotter",
                                  args.Get("snapshotter").value_or("syspgo"),
                                  "--registry-config-stdin",
                                  ref->ToString()};
  // In place (same pid, one process start fewer): the helper prints and
  // exits as this command would.
  std::vector<char*> cargv;
  for (std::string& a : cmd) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  ::execv(helper.c_str(), cargv.data());
  return Fail(ErrnoStatus(errno, "execute", helper));
}

}  // namespace

int PullCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  auto args = ParseArgs(argv, WithCommon({{"jobs", true},
                                          {"no-progress", false},
                                          {"stats-json", true},
                                          {"containerd-address", true},
                                          {"namespace", true},
                                          {"snapshotter", true}}));
  if (!args.ok()) return Usage(kPullUsage, args.status());
  if (args->Has("help")) return Usage(kPullUsage);
  if (args->positional.size() != 1) {
    return Usage(kPullUsage, InvalidArgument("pull needs exactly one IMAGE"));
  }
  if (auto address = args->Get("containerd-address")) {
    return PullIntoContainerd(*args, ctx, *address);
  }
  auto jobs = args->GetInt("jobs", 4, 1, 64);
  if (!jobs.ok()) return Usage(kPullUsage, jobs.status());
  auto ref = oci::ImageReference::Parse(args->positional[0]);
  if (!ref.ok()) return Fail(ref.status());
  auto setup = RegistrySetup::Make(*args, ctx);
  if (!setup.ok()) return Fail(setup.status());
  auto root = StoreRoot(*args);
  if (!root.ok()) return Fail(root.status());
  auto store = oci::LayerStore::Open(*root);
  if (!store.ok()) return Fail(store.status());
  oci::Puller puller(&*store, (*setup)->options, &(*setup)->log);
  oci::PullOptions options;
  options.jobs = *jobs;
  options.progress = !args->Has("no-progress");
  oci::PullStats stats;
  auto image = puller.Pull(*ref, options, &stats);
  if (!image.ok()) return Fail(image.status());
  std::fprintf(stderr, "syspgo: pulled %s (%s): %d layers, %d fetched, %s in %.3f s\n",
               ref->ToString().c_str(), image->manifest_digest.ToString().c_str(),
               stats.layers_total, stats.layers_fetched,
               oci::HumanBytes(static_cast<double>(stats.bytes_fetched)).c_str(), stats.seconds);
  if (auto path = args->Get("stats-json")) {
    nlohmann::json j = {{"image", ref->ToString()},
                        {"manifest_digest", image->manifest_digest.ToString()},
                        {"layers", stats.layers_total},
                        {"layers_fetched", stats.layers_fetched},
                        {"layers_local", stats.layers_local},
                        {"bytes_fetched", stats.bytes_fetched},
                        {"requests", stats.requests},
                        {"retries", stats.retries},
                        {"seconds", stats.seconds}};
    Status st = WriteFileAtomic(*path, j.dump(2) + "\n", 0644, false);
    if (!st.ok()) return Fail(st);
  }
  return 0;
}

namespace {

constexpr char kRunUsage[] = R"(USAGE: syspgo run [OPTIONS] IMAGE [-- CMD ARGS...]

Pulls what is missing of IMAGE, builds its root file system (read-only
layers + an overlayfs upper directory), and starts it with runc on the host's
network. Reports the phases of a cold start: Deploy (fetch + unpack + mount),
Running (runc create + start) and Ready (until the readiness condition
holds). The container's stdout, stderr and exit code pass through.

OPTIONS:
  --ready COND        exit (default: the entrypoint exits 0), tcp:PORT (the
                      port accepts a connection), file:PATH (PATH appears in
                      the container), log:REGEX (an output line matches)
  --timeout SECS      the whole start (finding and fetching the image,
                      mounting, starting, becoming ready) gives up after
                      SECS (default 300); registry requests stalled for 10 s
                      fail, and then the local copy is used if there is one
  --keep-running      with tcp/file/log: stay attached after readiness until
                      the container exits (default: stop it and return)
  --timing-json FILE  write the phase times as JSON
  --env NAME=VALUE    add to the container's environment (repeatable)
  --entrypoint PROG   replace the image's Entrypoint
  --pull POLICY       always (default: resolve the tag; use the local copy
                      when the registry is unreachable), missing, never
  --mode MODE         how the root file system gets its bytes:
                        full      pull and unpack every layer (overlayfs)
                        lazy      on demand from the layers (FUSE)
                        prefetch  lazy + the traced files fetched at start
                        rtimage   the runtime image pushed into the page
                                  cache at start, the layers for the rest
                      default auto: rtimage when the image has a runtime
                      image with data that the trust policy accepts, lazy
                      when it has one without, else full (also when the
                      registry is unreachable; a runtime image refused is
                      said on stderr)
  --streams N         parallel Range requests for the runtime image (2)
  --fetch-timeout S   a registry request of the lazy file system that moves
                      no data for S seconds fails (the registry is then not
                      asked again for 10-60 s: reads of data that is not
                      local fail at once with EIO), and a read waiting for
                      runtime-image data on its way gives up after S (10)
  --trust-policy FILE which runtime images to use, per repository (default
                      /etc/syspgo/trust-policy.json if it exists; without
                      one: unsigned ones for tags, none for digests)
  --runc PATH         the runc binary (default: runc from PATH)
  --jobs N            layers fetched at once (default 4)
  --sched-tag TAG     tag the container's processes for `syspgo sched` (default:
                      the image's io.syspgo.sched.tag label, if any)
  --root DIR          store and state directory (default /var/lib/syspgo)
  --insecure-registry, --tls-verify, --certs-dir, --authfile, -v: as for pull

EXAMPLES:
  syspgo run 127.0.0.1:5000/busybox:test -- sh -c 'echo hello'
  syspgo run --ready tcp:8080 127.0.0.1:5000/httpd:test
  syspgo run --timing-json t.json 127.0.0.1:5000/python:numpy -- python3 -c 'import numpy'
)";

}  // namespace

int RunCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  auto args = ParseArgs(argv,
                        WithCommon(WithLazyOptions({{"ready", true},
                                                    {"timeout", true},
                                                    {"keep-running", false},
                                                    {"timing-json", true},
                                                    {"env", true},
                                                    {"entrypoint", true},
                                                    {"pull", true},
                                                    {"mode", true},
                                                    {"runc", true},
                                                    {"jobs", true},
                                                    {"sched-tag", true}})),
                        /*stop_after_positionals=*/1);
  if (!args.ok()) return Usage(kRunUsage, args.status());
  if (args->Has("help")) return Usage(kRunUsage);
  if (args->positional.size() != 1) {
    return Usage(kRunUsage, InvalidArgument("run needs an IMAGE"));
  }
  auto ready = run::ReadyCondition::Parse(args->Get("ready").value_or("exit"));
  if (!ready.ok()) return Usage(kRunUsage, ready.status());
  auto timeout = args->GetInt("timeout", 300, 1, 24 * 3600);
  if (!timeout.ok()) return Usage(kRunUsage, timeout.status());
  auto jobs = args->GetInt("jobs", 4, 1, 64);
  if (!jobs.ok()) return Usage(kRunUsage, jobs.status());
  std::string policy = args->Get("pull").value_or("always");
  if (policy != "always" && policy != "missing" && policy != "never") {
    return Usage(kRunUsage, InvalidArgument("--pull must be always, missing or never"));
  }
  const std::string mode_name = args->Get("mode").value_or("auto");
  std::optional<fs::LazyMode> forced_lazy;
  if (mode_name != "auto" && mode_name != "full") {
    auto m = fs::ParseLazyMode(mode_name);
    if (!m.ok()) {
      return Usage(kRunUsage,
                   InvalidArgument("--mode must be auto, full, lazy, prefetch or rtimage"));
    }
    forced_lazy = *m;
  }
  auto lazy_options = ParseLazyOptions(*args);
  if (!lazy_options.ok()) return Usage(kRunUsage, lazy_options.status());
  if (::geteuid() != 0) {
    return Fail(PermissionDenied("run needs root (it mounts overlayfs and starts runc); try sudo"));
  }
  auto ref = oci::ImageReference::Parse(args->positional[0]);
  if (!ref.ok()) return Fail(ref.status());
  // The start as a whole honours --timeout: registry requests stop at the
  // deadline, and readiness is waited for until it.
  const auto deadline = SteadyClock::now() + std::chrono::seconds(*timeout);
  auto setup = RegistrySetup::Make(*args, ctx);
  if (!setup.ok()) return Fail(setup.status());
  (*setup)->options.http.deadline = deadline;
  auto trust = LoadTrustPolicy(*args);
  if (!trust.ok()) return Fail(trust.status());
  const Logger& log = (*setup)->log;
  auto private_root = StoreRoot(*args);
  if (!private_root.ok()) return Fail(private_root.status());
  const std::string root = *private_root;
  run::ContainerOptions copts;
  copts.state_root = root;
  copts.runc = args->Get("runc").value_or("runc");
  copts.command = args->rest;
  if (auto e = args->Get("entrypoint")) copts.entrypoint = std::vector<std::string>{*e};
  copts.env = args->GetAll("env");
  run::CleanupStaleContainers(root, copts.runc, &log);
  fs::CleanupStaleMounts(root, &log);
  node::SharedMounts shared_mounts(root, setup->get());

  // Deploy: fetch + unpack + mount (full), or the node's shared mount of
  // the image's runtime image (started when there is none), or a lazy
  // mount of its own (lazy and prefetch, the baselines).
  const auto t0 = SteadyClock::now();
  std::unique_ptr<node::LazyImage> lazy;
  std::optional<fs::LazyMode> lazy_mode = forced_lazy;
  std::optional<oci::LocalImage> image;
  oci::TransferCounters shared_counters;
  node::MountRef shared;  // released after the container is gone
  double locate_s = 0, mount_s = 0;
  bool want_shared = (mode_name == "auto" && policy != "never") ||
                     (forced_lazy && *forced_lazy == fs::LazyMode::kRuntimeImage);
  const rtimage::TrustDecision decision = trust->Decide(*ref);
  if (want_shared && decision.accept == rtimage::Acceptance::kNone) {
    Status not_used = rtimage::NotUsed(decision).WithContext(ref->ToString());
    if (forced_lazy) return Fail(not_used);
    log.Info(not_used.message());
    want_shared = false;
  }
  if (want_shared) {
    node::AcquireOptions ao;
    ao.binary = SelfBinary();
    ao.server_args = MountServerArgs(*args, root);
    ao.mode = forced_lazy;
    ao.timeout = std::max(
        std::chrono::milliseconds(1),
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()));
    ao.server_log = MountServerLog(root);
    auto acquired = shared_mounts.Acquire(*ref, decision, ao, &shared_counters);
    mount_s = SecondsSince(t0);
    if (acquired.ok()) {
      shared = std::move(*acquired);
      image = shared.image();
      lazy_mode = shared.mode();
    } else if (forced_lazy) {
      return Fail(acquired.status());
    } else if (acquired.status().code() == StatusCode::kNotFound) {
      log.Info(acquired.status().message());
    } else {
      // Said without -v: a runtime image that was refused (or could not be
      // checked) is something the user wants to know about.
      log.Warning("not starting from a runtime image: " + acquired.status().message() +
                  "; starting from the full image");
    }
  }
  // Held from here until the container's root is mounted: what it takes
  // from the store is then visibly in use (syspgo gc).
  auto gc_hold = oci::LayerStore::HoldAgainstGc(root, ctx.cancel);
  if (!gc_hold.ok()) return Fail(gc_hold.status());
  // Destroyed in reverse: the container, then the lazy mount, then its dir.
  fs::MountDir mount_dir;
  std::unique_ptr<fs::MountedImage> mounted;
  if (image) {
    // The shared mount's server serves the files.
  } else if (forced_lazy) {
    auto located = node::LocateLazyImage(*ref, **setup, *trust, true);
    locate_s = SecondsSince(t0);
    if (!located.ok()) return Fail(located.status());
    lazy = std::move(*located);
    auto dir = fs::MountDir::Create(root);
    if (!dir.ok()) return Fail(dir.status());
    mount_dir = std::move(*dir);
    auto m = node::MountLazyImage(*lazy, *lazy_mode, *lazy_options, root, **setup, mount_dir.mnt());
    if (!m.ok()) return Fail(m.status());
    mounted = std::move(*m);
    mount_s = SecondsSince(t0) - locate_s;
    image = lazy->image;
    image->layer_paths = {mount_dir.mnt()};
  } else {
    lazy_mode.reset();
    auto store = oci::LayerStore::Open(root);
    if (!store.ok()) return Fail(store.status());
    oci::Puller puller(&*store, (*setup)->options, &log);
    auto pulled = ObtainImage(puller, *ref, policy, *jobs, log);
    if (!pulled.ok()) return Fail(pulled.status());
    image = std::move(*pulled);
  }
  auto container = run::Container::Prepare(copts, *image, &log);
  if (!container.ok()) return Fail(container.status());
  gc_hold->Reset();
  const double deploy = SecondsSince(t0);
  const std::string mode_label = lazy_mode ? std::string(fs::LazyModeName(*lazy_mode)) : "full";

  // Running: runc create + start.
  const auto t1 = SteadyClock::now();
  if (Status st = (*container)->Create(); !st.ok()) {
    Fail(st);
    // As docker: 127 for a command the image does not have, 126 for one it
    // cannot execute.
    if (st.code() == StatusCode::kNotFound) return 127;
    if (st.code() == StatusCode::kPermissionDenied) return 126;
    return kExitFailure;
  }
  // Tagged before it starts, so that everything it runs carries the tag.
  std::string sched_tag = args->Get("sched-tag").value_or("");
  if (sched_tag.empty()) {
    auto label = image->config.labels.find(sched::kImageTagLabel);
    if (label != image->config.labels.end()) sched_tag = label->second;
  }
  if (!sched_tag.empty()) {
    Status st = sched::TagProcess(sched::kDefaultStateDir, sched::kDefaultPinRoot,
                                  (*container)->init_pid(), sched_tag);
    if (!st.ok()) return Fail(st.WithContext("tag the container " + sched_tag));
    log.Info("container tagged " + sched_tag + " (syspgo sched)");
  }
  if (Status st = (*container)->Start(); !st.ok()) return Fail(st);
  const double running = SecondsSince(t1);

  // Ready.
  run::WaitOptions wopts;
  wopts.condition = *ready;
  wopts.timeout = std::max(
      std::chrono::milliseconds(1),
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()));
  wopts.keep_running = args->Has("keep-running");
  auto outcome = (*container)->Wait(wopts, *ctx.cancel);
  nlohmann::json fs_stats;
  std::optional<node::MountStats> shared_stats;
  if (mounted) {
    mounted->StopFetching();
    fs_stats = mounted->Stats();
  } else if (!shared.mnt().empty()) {
    auto st = shared.Stats();
    if (st.ok()) {
      shared_stats = std::move(*st);
    } else {
      log.Warning("statistics of the shared mount: " + st.status().message());
    }
  }
  if (!outcome.ok()) return Fail(outcome.status());
  const double ready_s = outcome->ready_seconds;
  const double total = deploy + running + ready_s;

  int code = 0;
  if (outcome->exit) code = outcome->exit->ShellCode();
  if (outcome->interrupted) code = 130;  // as an interrupted start, after reporting its phases
  if (outcome->ready) {
    std::string how = ready->ToString();
    if (lazy_mode) how += "; mode " + mode_label;
    if (!shared.mnt().empty())
      how += shared.started() ? ", shared mount (started)" : ", shared mount";
    std::fprintf(stderr,
                 "syspgo: deploy %.3f s | running %.3f s | ready %.3f s | total %.3f s (%s)\n",
                 deploy, running, ready_s, total, how.c_str());
  } else {
    std::fprintf(stderr, "syspgo: container %s; it never became ready (%s)\n",
                 outcome->exit ? outcome->exit->ToString().c_str() : "stopped",
                 ready->ToString().c_str());
  }
  if (auto path = args->Get("timing-json")) {
    nlohmann::json j = {{"image", ref->ToString()},
                        {"manifest_digest", image->manifest_digest.ToString()},
                        {"ready_condition", ready->ToString()},
                        {"ready", outcome->ready},
                        {"deploy_s", deploy},
                        {"running_s", running},
                        {"ready_s", ready_s},
                        {"total_s", total},
                        {"mode", mode_label},
                        // A live shared mount was used (another start's).
                        {"shared_mount", !shared.mnt().empty() && !shared.started()}};
    if (!shared.mnt().empty()) {
      // The resolve that found the mount, and the mount's own traffic when
      // this start began it (the start does not own another's).
      int64_t requests = shared_counters.requests.load();
      int64_t bytes = shared_counters.bytes.load();
      if (shared.started() && shared_stats) {
        requests += shared_stats->registry_requests;
        bytes += shared_stats->registry_bytes;
      }
      j["registry"] = {{"requests", requests}, {"bytes", bytes}};
      j["deploy_parts"] = {{"mount_s", mount_s}, {"prepare_s", deploy - mount_s}};
      j["mount_started"] = shared.started();
      if (!shared.signed_by().empty()) j["runtime_image_signed_by"] = shared.signed_by();
      if (shared_stats) {
        j["fs"] = shared_stats->fs;
        j["shared_mount_stats"] = shared_stats->ToJson();
        j["shared_mount_stats"].erase("fs");
      }
    }
    if (outcome->exit) j["exit_code"] = outcome->exit->ShellCode();
    if (lazy && lazy->signature) j["runtime_image_signed_by"] = lazy->signature->key_id;
    if (mounted) {
      j["deploy_parts"] = {
          {"locate_s", locate_s}, {"mount_s", mount_s}, {"prepare_s", deploy - locate_s - mount_s}};
      const int64_t located = lazy->counters.requests.load();
      const int64_t located_bytes = lazy->counters.bytes.load();
      int64_t requests = located + fs_stats["fallback"]["requests"].get<int64_t>();
      int64_t bytes = located_bytes + fs_stats["fallback"]["bytes"].get<int64_t>();
      if (fs_stats.contains("page_cache")) {
        requests += fs_stats["page_cache"]["requests"].get<int64_t>();
        bytes += fs_stats["page_cache"]["bytes"].get<int64_t>();
      }
      j["registry"] = {{"requests", requests},
                       {"bytes", bytes},
                       {"metadata_requests", located},
                       {"metadata_bytes", located_bytes}};
      j["fs"] = fs_stats;
    }
    Status st = WriteFileAtomic(*path, j.dump(2) + "\n", 0644, false);
    if (!st.ok()) return Fail(st);
  }
  if (Status st = (*container)->Destroy(); !st.ok()) {
    log.Warning("cleanup: " + st.message());
  }
  if (mounted) {
    if (Status st = mounted->Stop(); !st.ok()) log.Warning("unmounting: " + st.message());
  }
  if (!outcome->ready && code == 0) code = kExitFailure;
  return code;
}

namespace {

constexpr char kBuildUsage[] =
    R"(USAGE: syspgo build-image [OPTIONS] --layer DIR [--layer DIR...] IMAGE

Builds an OCI image whose layers are the given directory trees (bottom
first) and pushes it to IMAGE's registry.

OPTIONS:
  --layer DIR          a layer's content (repeatable, bottom first)
  --compression C      gzip (default), zstd or none
  --level N            compression level (default: the fast default)
  --docker             Docker v2 schema 2 media types instead of OCI
  --entrypoint JSON    e.g. '["/bin/sh","-c"]'
  --cmd JSON           e.g. '["echo","hello"]'
  --env NAME=VALUE     (repeatable)
  --workdir DIR
  --user USER
  --expose PORT/PROTO  (repeatable)
  -q, --quiet          no step lines on stderr (each layer's archiving and
                       push, with its size and time)
  --insecure-registry, --tls-verify, --certs-dir, --authfile, -v: as for pull

EXAMPLES:
  syspgo build-image --layer ./rootfs --cmd '["sh"]' 127.0.0.1:5000/busybox:test
)";

Result<std::vector<std::string>> JsonStringArray(const std::string& text, const char* what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return InvalidArgument(std::string(what) + " must be a JSON array of strings");
  }
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string()) {
      return InvalidArgument(std::string(what) + " must be a JSON array of strings");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

int BuildImageCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  auto args = ParseArgs(argv, WithCommon({{"layer", true},
                                          {"compression", true},
                                          {"level", true},
                                          {"docker", false},
                                          {"entrypoint", true},
                                          {"cmd", true},
                                          {"env", true},
                                          {"workdir", true},
                                          {"user", true},
                                          {"expose", true},
                                          {"quiet", false, 'q'}}));
  if (!args.ok()) return Usage(kBuildUsage, args.status());
  if (args->Has("help")) return Usage(kBuildUsage);
  if (args->positional.size() != 1 || args->GetAll("layer").empty()) {
    return Usage(kBuildUsage, InvalidArgument("build-image needs --layer DIR and an IMAGE"));
  }
  auto ref = oci::ImageReference::Parse(args->positional[0]);
  if (!ref.ok()) return Fail(ref.status());
  oci::BuildOptions options;
  for (const std::string& dir : args->GetAll("layer")) options.layers.push_back({dir, ""});
  std::string compression = args->Get("compression").value_or("gzip");
  if (compression == "gzip") {
    options.compression = oci::Compression::kGzip;
  } else if (compression == "zstd") {
    options.compression = oci::Compression::kZstd;
  } else if (compression == "none") {
    options.compression = oci::Compression::kNone;
  } else {
    return Usage(kBuildUsage, InvalidArgument("--compression must be gzip, zstd or none"));
  }
  auto level = args->GetInt("level", 0, 0, 19);
  if (!level.ok()) return Usage(kBuildUsage, level.status());
  options.compression_level = *level;
  options.docker_media_types = args->Has("docker");
  if (auto e = args->Get("entrypoint")) {
    auto v = JsonStringArray(*e, "--entrypoint");
    if (!v.ok()) return Usage(kBuildUsage, v.status());
    options.config.entrypoint = *v;
  }
  if (auto c = args->Get("cmd")) {
    auto v = JsonStringArray(*c, "--cmd");
    if (!v.ok()) return Usage(kBuildUsage, v.status());
    options.config.cmd = *v;
  }
  options.config.env = args->GetAll("env");
  options.config.working_dir = args->Get("workdir").value_or("");
  options.config.user = args->Get("user").value_or("");
  options.config.exposed_ports = args->GetAll("expose");
  if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp) options.work_dir = tmp;
  auto setup = RegistrySetup::Make(*args, ctx);
  if (!setup.ok()) return Fail(setup.status());
  const auto start = SteadyClock::now();
  if (!args->Has("quiet")) {
    options.on_step = [](const std::string& step) {
      std::fprintf(stderr, "syspgo: %s\n", step.c_str());
    };
  }
  auto built = oci::BuildAndPushImage(*ref, options, (*setup)->options);
  if (!built.ok()) return Fail(built.status());
  int64_t bytes = 0;
  for (const auto& l : built->layers) bytes += l.size;
  std::fprintf(stderr, "syspgo: pushed %s@%s (%zu layers, %s) in %.2f s\n", ref->ToString().c_str(),
               built->manifest_digest.ToString().c_str(), built->layers.size(),
               oci::HumanBytes(static_cast<double>(bytes)).c_str(), SecondsSince(start));
  std::printf("%s\n", built->manifest_digest.ToString().c_str());
  return 0;
}

int ExecSnapshotter(const std::vector<std::string>& args) {
  const std::string binary = JoinPath(DirName(SelfBinary()), "syspgo-snapshotter");
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  ::execv(binary.c_str(), cargv.data());
  return Fail(ErrnoStatus(errno, "execute", binary));
}

constexpr char kCleanupUsage[] = R"(USAGE: syspgo cleanup [OPTIONS]

Removes what killed runs left behind: runc containers and their state
directories, mounts whose server died, stale shared-mount directories and
temporary download sessions. Never what a live run or mount uses. Every
start does the same for itself; run this after a crash, or from a timer.
(Stored images and caches: `syspgo gc`.)

OPTIONS:
  --root DIR   store directory (default /var/lib/syspgo, or $SYSPGO_ROOT)
  --runc PATH  runc binary (default runc)
  -v           say what is removed
)";

int CleanupCommand(const std::vector<std::string>& argv, const CommandContext&) {
  auto args = ParseArgs(argv, WithCommon({{"runc", true}}));
  if (!args.ok()) return Usage(kCleanupUsage, args.status());
  if (args->Has("help")) return Usage(kCleanupUsage);
  if (!args->positional.empty())
    return Usage(kCleanupUsage, InvalidArgument("cleanup takes no arguments"));
  Logger log(LogLevel::kInfo);
  auto private_root = StoreRoot(*args);
  if (!private_root.ok()) return Fail(private_root.status());
  const std::string& root = *private_root;
  run::CleanupStaleContainers(root, args->Get("runc").value_or("runc"), &log);
  fs::CleanupStaleMounts(root, &log);
  node::SharedMounts(root, nullptr).CleanupStale(&log);
  // Opening the store removes stale temporary sessions.
  auto store = oci::LayerStore::Open(root);
  if (!store.ok()) return Fail(store.status());
  return 0;
}

}  // namespace syspgo::cli
