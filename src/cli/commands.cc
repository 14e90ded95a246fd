// SPDX-License-Identifier: Apache-2.0
#include "cli/commands.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/cli_util.h"
#include "node/deploy.h"
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
  auto setup = MakeRegistrySetup(args, ctx);
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
  auto setup = MakeRegistrySetup(*args, ctx);
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

namespace {

// `syspgo run`'s flags, checked.
struct RunFlags {
  run::ReadyCondition ready;
  std::chrono::seconds timeout{300};
  node::DeployRequest deploy;
  run::ContainerOptions container;
  std::string sched_tag;  // --sched-tag; else the image's label
  bool keep_running = false;
};

Result<RunFlags> ParseRunFlags(const ParsedArgs& args) {
  RunFlags f;
  if (args.positional.size() != 1) return InvalidArgument("run needs an IMAGE");
  ASSIGN_OR_RETURN(f.ready, run::ReadyCondition::Parse(args.Get("ready").value_or("exit")));
  ASSIGN_OR_RETURN(int timeout, args.GetInt("timeout", 300, 1, 24 * 3600));
  f.timeout = std::chrono::seconds(timeout);
  ASSIGN_OR_RETURN(f.deploy.jobs, args.GetInt("jobs", 4, 1, 64));
  ASSIGN_OR_RETURN(f.deploy.pull, node::ParsePullPolicy(args.Get("pull").value_or("always")));
  const std::string mode = args.Get("mode").value_or("auto");
  f.deploy.full = mode == "full";
  if (mode != "auto" && mode != "full") {
    auto m = fs::ParseLazyMode(mode);
    if (!m.ok()) return InvalidArgument("--mode must be auto, full, lazy, prefetch or rtimage");
    f.deploy.lazy = *m;
  }
  ASSIGN_OR_RETURN(f.deploy.lazy_options, ParseLazyOptions(args));
  f.container.runc = args.Get("runc").value_or("runc");
  f.container.command = args.rest;
  if (auto e = args.Get("entrypoint")) f.container.entrypoint = std::vector<std::string>{*e};
  f.container.env = args.GetAll("env");
  f.sched_tag = args.Get("sched-tag").value_or("");
  f.keep_running = args.Has("keep-running");
  return f;
}

// As docker: 127 for a command the image does not have, 126 for one it
// cannot execute.
int CreateFailed(const Status& st) {
  Fail(st);
  if (st.code() == StatusCode::kNotFound) return 127;
  if (st.code() == StatusCode::kPermissionDenied) return 126;
  return kExitFailure;
}

// Tags the container's first process before it runs, so that everything it
// runs carries the tag: --sched-tag, else the image's label.
Status TagContainer(std::string tag, const oci::LocalImage& image, pid_t init, const Logger& log) {
  if (tag.empty()) {
    auto label = image.config.labels.find(sched::kImageTagLabel);
    if (label != image.config.labels.end()) tag = label->second;
  }
  if (tag.empty()) return Status::Ok();
  RETURN_IF_ERROR(sched::TagProcess(sched::kDefaultStateDir, sched::kDefaultPinRoot, init, tag)
                      .WithContext("tag the container " + tag));
  log.Info("container tagged " + tag + " (syspgo sched)");
  return Status::Ok();
}

struct Phases {
  double deploy = 0, running = 0, ready = 0;
  double total() const { return deploy + running + ready; }
};

// --timing-json: the phases, the deploy's parts and its registry traffic.
nlohmann::json TimingJson(const oci::ImageReference& ref, const RunFlags& flags,
                          const node::Deployment& d, const node::DeployStats& stats,
                          const run::WaitOutcome& outcome, const Phases& p) {
  const node::MountRef& shared = d.shared_mount();
  nlohmann::json j = {{"image", ref.ToString()},
                      {"manifest_digest", d.image().manifest_digest.ToString()},
                      {"ready_condition", flags.ready.ToString()},
                      {"ready", outcome.ready},
                      {"deploy_s", p.deploy},
                      {"running_s", p.running},
                      {"ready_s", p.ready},
                      {"total_s", p.total()},
                      {"mode", d.ModeLabel()},
                      // A live shared mount was used (another start's).
                      {"shared_mount", !shared.mnt().empty() && !shared.started()}};
  if (!shared.mnt().empty()) {
    j["registry"] = {{"requests", stats.registry_requests}, {"bytes", stats.registry_bytes}};
    j["deploy_parts"] = {{"mount_s", d.mount_seconds()},
                         {"prepare_s", p.deploy - d.mount_seconds()}};
    j["mount_started"] = shared.started();
    if (stats.shared) {
      j["fs"] = stats.fs;
      j["shared_mount_stats"] = stats.shared->ToJson();
      j["shared_mount_stats"].erase("fs");
    }
  } else if (stats.metadata_requests) {
    j["deploy_parts"] = {{"locate_s", d.locate_seconds()},
                         {"mount_s", d.mount_seconds()},
                         {"prepare_s", p.deploy - d.locate_seconds() - d.mount_seconds()}};
    j["registry"] = {{"requests", stats.registry_requests},
                     {"bytes", stats.registry_bytes},
                     {"metadata_requests", *stats.metadata_requests},
                     {"metadata_bytes", *stats.metadata_bytes}};
    j["fs"] = stats.fs;
  }
  if (const std::string signer = d.signed_by(); !signer.empty()) {
    j["runtime_image_signed_by"] = signer;
  }
  if (outcome.exit) j["exit_code"] = outcome.exit->ShellCode();
  return j;
}

void PrintPhases(const RunFlags& flags, const node::Deployment& d, const run::WaitOutcome& outcome,
                 const Phases& p) {
  if (!outcome.ready) {
    std::fprintf(stderr, "syspgo: container %s; it never became ready (%s)\n",
                 outcome.exit ? outcome.exit->ToString().c_str() : "stopped",
                 flags.ready.ToString().c_str());
    return;
  }
  std::string how = flags.ready.ToString();
  if (d.mode()) how += "; mode " + d.ModeLabel();
  if (!d.shared_mount().mnt().empty())
    how += d.shared_mount().started() ? ", shared mount (started)" : ", shared mount";
  std::fprintf(stderr,
               "syspgo: deploy %.3f s | running %.3f s | ready %.3f s | total %.3f s (%s)\n",
               p.deploy, p.running, p.ready, p.total(), how.c_str());
}

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
  auto flags = ParseRunFlags(*args);
  if (!flags.ok()) return Usage(kRunUsage, flags.status());
  if (::geteuid() != 0) {
    return Fail(PermissionDenied("run needs root (it mounts overlayfs and starts runc); try sudo"));
  }
  auto ref = oci::ImageReference::Parse(args->positional[0]);
  if (!ref.ok()) return Fail(ref.status());
  // The start as a whole honours --timeout: registry requests stop at the
  // deadline, and readiness is waited for until it.
  const auto deadline = SteadyClock::now() + flags->timeout;
  auto setup = MakeRegistrySetup(*args, ctx);
  if (!setup.ok()) return Fail(setup.status());
  (*setup)->options.http.deadline = deadline;
  const Logger& log = (*setup)->log;
  auto trust = LoadTrustPolicy(*args);
  if (!trust.ok()) return Fail(trust.status());
  auto root = StoreRoot(*args);
  if (!root.ok()) return Fail(root.status());
  flags->container.state_root = *root;
  flags->deploy.ref = *ref;
  flags->deploy.deadline = deadline;
  flags->deploy.server = {.binary = SelfBinary(),
                          .server_args = MountServerArgs(*args, *root),
                          .server_log = MountServerLog(*root)};
  run::CleanupStaleContainers(*root, flags->container.runc, &log);
  fs::CleanupStaleMounts(*root, &log);
  node::SharedMounts mounts(*root, setup->get());

  Phases p;
  const auto t0 = SteadyClock::now();
  auto deployed = node::Deploy(flags->deploy, **setup, *trust, mounts, ctx.cancel);
  if (!deployed.ok()) return Fail(deployed.status());
  node::Deployment& d = **deployed;
  auto container = run::Container::Prepare(flags->container, d.image(), &log);
  if (!container.ok()) return Fail(container.status());
  d.Prepared();
  p.deploy = SecondsSince(t0);

  const auto t1 = SteadyClock::now();
  if (Status st = (*container)->Create(); !st.ok()) return CreateFailed(st);
  Status tagged = TagContainer(flags->sched_tag, d.image(), (*container)->init_pid(), log);
  if (!tagged.ok()) return Fail(tagged);
  if (Status st = (*container)->Start(); !st.ok()) return Fail(st);
  p.running = SecondsSince(t1);

  run::WaitOptions wopts{.condition = flags->ready,
                         .timeout = TimeLeft(deadline),
                         .keep_running = flags->keep_running};
  auto outcome = (*container)->Wait(wopts, *ctx.cancel);
  d.StopFetching();
  const node::DeployStats stats = d.Stats(log);
  if (!outcome.ok()) return Fail(outcome.status());
  p.ready = outcome->ready_seconds;
  PrintPhases(*flags, d, *outcome, p);
  if (auto path = args->Get("timing-json")) {
    const nlohmann::json j = TimingJson(*ref, *flags, d, stats, *outcome, p);
    if (Status st = WriteFileAtomic(*path, j.dump(2) + "\n", 0644, false); !st.ok())
      return Fail(st);
  }
  if (Status st = (*container)->Destroy(); !st.ok()) log.Warning("cleanup: " + st.message());
  if (Status st = d.Stop(); !st.ok()) log.Warning("unmounting: " + st.message());
  int code = outcome->exit ? outcome->exit->ShellCode() : 0;
  if (outcome->interrupted) code = 130;  // as an interrupted start, after reporting its phases
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
  auto setup = MakeRegistrySetup(*args, ctx);
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
