// SPDX-License-Identifier: Apache-2.0
// The containerd remote snapshotter against a real containerd 1.6 (Debian's)
// that each test starts with its own root, state, socket and configuration:
// pull + run from a runtime image (no layer downloaded), an image without
// one (unpacked as overlayfs), containers sharing one mount, the
// Kubernetes path (a CRI PullImage call, then a container in the k8s.io
// namespace), the snapshotter SIGKILLed while a container runs, a registry
// that hangs during a start, a forged runtime image (refused: layers
// unpacked), tampered bytes (never served), images that share base layers
// with an optimized image in every pull order (ctr and CRI), and nothing
// left after removal.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/sha256.h"
#include "oci/image_builder.h"
#include "cri_api.grpc.pb.h"
#include "integration/lazy_fs_fixture.h"
#include "node/shared_mount.h"

namespace syspgo::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Sha256Of(const std::string& data) { return Sha256::HexOf(data); }

// A pid's command line, NUL separators as spaces.
std::string CommandLine(pid_t pid) {
  auto text = ReadFileToString("/proc/" + std::to_string(pid) + "/cmdline");
  if (!text.ok()) return "";
  std::string s = *text;
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s;
}

class ContainerdTest : public LazyFsTest {
 protected:
  void SetUp() override {
    LazyFsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (const char* tool :
         {"/usr/bin/containerd", "/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v2"}) {
      if (::access(tool, X_OK) != 0)
        GTEST_SKIP() << tool << " is not installed (apt-get install containerd)";
    }
    if (::access(PULL_HELPER, X_OK) != 0) {
      GTEST_SKIP() << PULL_HELPER << " was not built (Go is missing: scripts/install-deps.sh)";
    }
    base_ = Root("c");
    ASSERT_TRUE(MakeDirs(base_, 0700).ok());
    root_ = JoinPath(base_, "store");
    snapshotter_sock_ = JoinPath(base_, "sn.sock");
    containerd_sock_ = JoinPath(base_, "ctd.sock");
    metrics_ = JoinPath(base_, "metrics.prom");
    ASSERT_NO_FATAL_FAILURE(StartSnapshotter());
    ASSERT_NO_FATAL_FAILURE(StartContainerd());
  }

  void TearDown() override {
    if (containerd_.running()) {
      // Whatever a failed test left: tasks, containers, images.
      for (const char* ns : {"default", "k8s.io"}) {
        auto tasks = Ctr({"-n", ns, "task", "ls", "-q"});
        for (const std::string& id : Lines(tasks.output))
          Ctr({"-n", ns, "task", "kill", "-s", "KILL", id});
        for (const std::string& id : Lines(tasks.output)) Ctr({"-n", ns, "task", "rm", "-f", id});
        auto containers = Ctr({"-n", ns, "containers", "ls", "-q"});
        for (const std::string& id : Lines(containers.output))
          Ctr({"-n", ns, "containers", "rm", id});
        auto images = Ctr({"-n", ns, "images", "ls", "-q"});
        for (const std::string& ref : Lines(images.output))
          Ctr({"-n", ns, "images", "rm", "--sync", ref});
      }
      StopContainerd();
    }
    if (snapshotter_.running()) {
      (void)snapshotter_.Signal(SIGTERM);
      (void)snapshotter_.WaitFor(seconds(30));
    }
    for (auto [pid, state] : ChildrenNamed("containerd-shim")) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    LazyFsTest::TearDown();
  }

  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      std::string line = text.substr(start, nl - start);
      if (!line.empty()) out.push_back(line);
      start = nl + 1;
    }
    return out;
  }

  void StartSnapshotter() {
    const std::string out =
        JoinPath(base_, "snapshotter-" + std::to_string(++snapshotters_) + ".log");
    snapshotter_log_ = out;
    std::vector<std::string> args = {"snapshotter",
                                     "--root",
                                     root_,
                                     "--address",
                                     snapshotter_sock_,
                                     "--insecure-registry",
                                     registry().address(),
                                     "--metrics-file",
                                     metrics_,
                                     "--fetch-timeout",
                                     "3"};
    args.insert(args.end(), snapshotter_extra_.begin(), snapshotter_extra_.end());
    snapshotter_ = SpawnSyspgo(std::move(args), out);
    ASSERT_TRUE(WaitForText(out, "serving", snapshotter_, seconds(30))) << FileText(out);
  }

  void StartContainerd() {
    const std::string config = JoinPath(base_, "containerd.toml");
    const std::string reg = registry().address();
    const std::string text =
        "version = 2\n"
        "root = \"" +
        JoinPath(base_, "root") +
        "\"\n"
        "state = \"" +
        JoinPath(base_, "state") +
        "\"\n"
        "[grpc]\n  address = \"" +
        containerd_sock_ +
        "\"\n"
        "[ttrpc]\n  address = \"" +
        containerd_sock_ +
        ".ttrpc\"\n"
        "[proxy_plugins]\n  [proxy_plugins.syspgo]\n    type = \"snapshot\"\n"
        "    address = \"" +
        snapshotter_sock_ +
        "\"\n"
        "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
        "  stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n"
        "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
        "    snapshotter = \"syspgo\"\n    disable_snapshot_annotations = false\n"
        "  [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"" +
        reg +
        "\"]\n"
        "    endpoint = [\"http://" +
        reg + "\"]\n";
    ASSERT_TRUE(WriteFileAtomic(config, text, 0600, false).ok());
    auto log =
        UniqueFd::Open(JoinPath(base_, "containerd.log"), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ASSERT_TRUE(log.ok());
    SpawnOptions so;
    so.stdout_fd = log->get();
    so.stderr_fd = log->get();
    so.null_stdin = true;
    auto p = Subprocess::Spawn({"containerd", "--config", config}, so);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    containerd_ = std::move(*p);
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (PathExists(containerd_sock_) && Ctr({"version"}).exit.success()) return;
      std::this_thread::sleep_for(milliseconds(100));
    }
    FAIL() << "containerd did not start: " << FileText(JoinPath(base_, "containerd.log"));
  }

  void StopContainerd() {
    (void)containerd_.Signal(SIGTERM);
    auto exit = containerd_.WaitFor(seconds(30));
    EXPECT_TRUE(exit.ok());
  }

  Ran Ctr(std::vector<std::string> args, milliseconds timeout = seconds(120)) {
    args.insert(args.begin(), {"ctr", "-a", containerd_sock_});
    const auto t0 = std::chrono::steady_clock::now();
    SpawnOptions so;
    so.null_stdin = true;
    Ran r;
    auto out = RunCommand(args, so);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (out.ok()) {
      r.exit = out->exit;
      r.output = out->output;
    }
    return r;
  }
  // `ctr ...` in the background, output into `out`.
  Subprocess SpawnCtr(std::vector<std::string> args, const std::string& out) {
    args.insert(args.begin(), {"ctr", "-a", containerd_sock_});
    auto fd = UniqueFd::Open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_TRUE(fd.ok());
    SpawnOptions so;
    so.stdout_fd = fd->get();
    so.stderr_fd = fd->get();
    so.null_stdin = true;
    auto p = Subprocess::Spawn(args, so);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : Subprocess();
  }

  Ran PullIntoContainerd(const std::string& ref) {
    return Syspgo({"pull", "--containerd-address", containerd_sock_, "--insecure-registry",
                   registry().address(), ref});
  }

  // A counter of the snapshotter's metrics file (rewritten every 5 s and
  // when it stops; the test stops it or waits).
  int64_t Metric(const std::string& name) {
    for (const std::string& line : Lines(FileText(metrics_))) {
      if (line.rfind(name + " ", 0) == 0) return std::stoll(line.substr(name.size() + 1));
    }
    return -1;
  }

  std::vector<std::string> LayerDigests() const {
    std::vector<std::string> out;
    for (const auto& l : image_.manifest.layers) out.push_back(l.digest.ToString());
    return out;
  }

  // The size of the runtime image's blob (as `syspgo image inspect` says).
  int64_t BlobSizeOfRuntimeImage() {
    auto r = Syspgo({"image", "inspect", "--json", "--root", root_, "--insecure-registry",
                     registry().address(), image_.reference.ToString()});
    auto j = nlohmann::json::parse(r.output.substr(std::min(r.output.size(), r.output.find('{'))),
                                   nullptr, false);
    if (j.is_discarded()) return -1;
    return j.value("blob_bytes", int64_t{-1});
  }

  // Mount servers: adopted children whose command line says so.
  std::vector<pid_t> MountServers() {
    std::vector<pid_t> out;
    for (auto [pid, state] : ChildrenNamed("syspgo")) {
      if (state != 'Z' && CommandLine(pid).find("--exit-unreferenced") != std::string::npos) {
        out.push_back(pid);
      }
    }
    return out;
  }

  // Removes the image from containerd, then stops the snapshotter (which
  // writes its metrics file as it ends). Use with ASSERT_NO_FATAL_FAILURE.
  void RemoveImageAndStop(const std::string& ref) {
    auto rm = Ctr({"images", "rm", "--sync", ref});
    ASSERT_TRUE(rm.exit.success()) << rm.output;
    ASSERT_TRUE(snapshotter_.Signal(SIGTERM).ok());
    ASSERT_TRUE(snapshotter_.WaitFor(seconds(30)).ok());
  }

  void ExpectNothingLeft() {
    EXPECT_TRUE(FuseMountsUnder(root_).empty());
    auto shared = ListDir(JoinPath(root_, "shared"));
    EXPECT_TRUE(!shared.ok() || shared->empty()) << "shared mount directories left";
    auto snaps = ListDir(JoinPath(root_, "snapshotter/snapshots"));
    EXPECT_TRUE(!snaps.ok() || snaps->empty()) << "snapshot directories left";
    EXPECT_EQ(ReapAdoptedServers(seconds(10)), 0u) << "a mount server still runs";
  }

  // How an image reaches containerd: `syspgo pull --containerd-address`
  // (namespace default) or the kubelet's CRI PullImage (namespace k8s.io).
  enum class Via { kCtr, kCri };
  static const char* Namespace(Via via) { return via == Via::kCri ? "k8s.io" : "default"; }

  std::unique_ptr<runtime::v1::ImageService::Stub> Cri() {
    auto channel =
        grpc::CreateChannel("unix:" + containerd_sock_, grpc::InsecureChannelCredentials());
    return runtime::v1::ImageService::NewStub(channel);
  }
  // "" when the pull worked, else what failed.
  std::string PullVia(Via via, const std::string& ref) {
    if (via == Via::kCtr) {
      auto pulled = Syspgo({"pull", "--containerd-address", containerd_sock_, "--insecure-registry",
                            registry().address(), ref});
      return pulled.exit.success() ? "" : pulled.output;
    }
    runtime::v1::PullImageRequest req;
    req.mutable_image()->set_image(ref);
    runtime::v1::PullImageResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(120));
    grpc::Status st = Cri()->PullImage(&ctx, req, &resp);
    return st.ok() ? "" : st.error_message() + "\n" + FileText(JoinPath(base_, "containerd.log"));
  }
  // Removes the image (every name CRI gave it) and waits until containerd
  // removed the snapshot `chain_id` (its collector runs in the background).
  void RemoveVia(Via via, const std::string& ref, const std::string& chain_id) {
    if (via == Via::kCtr) {
      auto rm = Ctr({"images", "rm", "--sync", ref});
      ASSERT_TRUE(rm.exit.success()) << rm.output;
    } else {
      runtime::v1::RemoveImageRequest req;
      req.mutable_image()->set_image(ref);
      runtime::v1::RemoveImageResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + seconds(60));
      grpc::Status st = Cri()->RemoveImage(&ctx, req, &resp);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (SnapshotLabels(via, chain_id).has_value()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "snapshot " << chain_id << " stays";
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  // The labels of containerd's snapshot `key`; nullopt when there is none.
  std::optional<nlohmann::json> SnapshotLabels(Via via, const std::string& key) {
    auto info = Ctr({"-n", Namespace(via), "snapshots", "--snapshotter", "syspgo", "info", key});
    if (!info.exit.success()) return std::nullopt;
    auto j = nlohmann::json::parse(info.output, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j.value("Labels", nlohmann::json::object());
  }
  bool ServedRemotely(Via via, const std::string& chain_id) {
    auto labels = SnapshotLabels(via, chain_id);
    return labels && labels->value("containerd.io/snapshot/remote", "") == "syspgo";
  }

  std::string base_, root_, snapshotter_sock_, containerd_sock_, metrics_, snapshotter_log_;
  std::vector<std::string> snapshotter_extra_;  // arguments of the next StartSnapshotter
  Subprocess snapshotter_, containerd_;
  int snapshotters_ = 0;
};

// The python-image path of the issue on the test image: pulled through the
// snapshotter from its runtime image (no layer in containerd's content
// store: none was downloaded), four containers at once on one shared mount
// that fetched the runtime image once, the right bytes in each, and after
// the image is removed nothing is left.
TEST_F(ContainerdTest, PullAndRunFromRuntimeImage) {
  const std::string ref = PushWithRuntimeImage("ctd/app");
  ASSERT_FALSE(HasFailure());
  auto pulled = PullIntoContainerd(ref);
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  auto content = Ctr({"content", "ls", "-q"});
  ASSERT_TRUE(content.exit.success()) << content.output;
  for (const std::string& layer : LayerDigests()) {
    EXPECT_EQ(content.output.find(layer), std::string::npos)
        << "layer " << layer << " was downloaded:\n"
        << content.output;
  }
  auto snaps = Ctr({"snapshots", "--snapshotter", "syspgo", "ls"});
  EXPECT_EQ(Lines(snaps.output).size(), 1 + LayerDigests().size()) << snaps.output;
  EXPECT_EQ(FuseMountsUnder(root_).size(), 1u) << "the image's shared mount";

  std::vector<Subprocess> runs;
  std::vector<std::string> outs;
  constexpr int kContainers = 4;
  for (int i = 0; i < kContainers; ++i) {
    outs.push_back(JoinPath(base_, "run" + std::to_string(i) + ".out"));
    runs.push_back(
        SpawnCtr({"run", "--rm", "--snapshotter", "syspgo", ref, "app" + std::to_string(i), "sh",
                  "-c", "sha256sum /data/big.bin; cat /data/over; echo; sleep 2"},
                 outs.back()));
  }
  for (int i = 0; i < kContainers; ++i) {
    ASSERT_TRUE(WaitForText(outs[i], "new", runs[i], seconds(60))) << FileText(outs[i]);
  }
  EXPECT_EQ(FuseMountsUnder(root_).size(), 1u) << "every container on the one shared mount";
  // `syspgo images` sees containerd's image and its containers.
  {
    auto images = Syspgo({"images", "--json", "--root", root_});
    auto j = nlohmann::json::parse(images.output, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << images.output;
    ASSERT_EQ(j["snapshotter"]["images"].size(), 1u) << j.dump(2);
    const nlohmann::json& im = j["snapshotter"]["images"][0];
    EXPECT_EQ(im["reference"], ref);
    EXPECT_EQ(im["mode"], "runtime-image");
    EXPECT_EQ(im["containers"], kContainers) << j.dump(2);
    EXPECT_EQ(j["total_bytes"].get<int64_t>(),
              j["store_bytes"].get<int64_t>() + j["snapshotter"]["bytes"].get<int64_t>());
  }
  // The runtime image came from the registry once: every chunk fetched
  // once, no more bytes than the blob holds.
  auto stats = node::SharedMounts(root_, nullptr).Stats(image_.manifest_digest);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const nlohmann::json& pc = stats->fs["page_cache"];
  EXPECT_EQ(pc["chunks_fetched"], pc["chunks"]) << stats->ToJson().dump(2);
  EXPECT_EQ(pc["chunks_failed"], 0);
  // Chunk ranges of the blob, once (not its alignment padding).
  const int64_t blob = BlobSizeOfRuntimeImage();
  EXPECT_LE(pc["bytes"].get<int64_t>(), blob) << stats->ToJson().dump(2);
  EXPECT_GT(pc["bytes"].get<int64_t>(), blob * 9 / 10) << stats->ToJson().dump(2);
  for (int i = 0; i < kContainers; ++i) {
    auto exit = runs[i].WaitFor(seconds(60));
    ASSERT_TRUE(exit.ok());
    EXPECT_TRUE(exit->success()) << FileText(outs[i]);
    EXPECT_NE(FileText(outs[i]).find(Sha256Of(big_)), std::string::npos) << FileText(outs[i]);
  }

  auto rm = Ctr({"images", "rm", "--sync", ref});
  ASSERT_TRUE(rm.exit.success()) << rm.output;
  snaps = Ctr({"snapshots", "--snapshotter", "syspgo", "ls"});
  EXPECT_EQ(Lines(snaps.output).size(), 1u) << "only the header: " << snaps.output;
  ASSERT_TRUE(snapshotter_.Signal(SIGTERM).ok());
  auto exit = snapshotter_.WaitFor(seconds(30));
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->success()) << FileText(snapshotter_log_);
  EXPECT_EQ(Metric("syspgo_snapshotter_remote_layers_total"),
            static_cast<int64_t>(LayerDigests().size()));
  EXPECT_EQ(Metric("syspgo_snapshotter_unpacked_layers_total"), 0);
  EXPECT_EQ(Metric("syspgo_snapshotter_container_starts_total"), kContainers);
  EXPECT_EQ(Metric("syspgo_snapshotter_errors_total"), 0);
  ExpectNothingLeft();
}

// An image without a runtime image: containerd fetches and unpacks its
// layers into overlayfs snapshots here, as with its own snapshotter.
TEST_F(ContainerdTest, ImageWithoutRuntimeImageIsUnpacked) {
  const std::string ref = PushSampleImage("ctd/plain");
  ASSERT_FALSE(HasFailure());
  auto pulled = PullIntoContainerd(ref);
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  auto run = Ctr(
      {"run", "--rm", "--snapshotter", "syspgo", ref, "plain", "sh", "-c",
       "sha256sum /data/big.bin; cat /data/over; ls /data/opaque; echo x > /data/w; cat /data/w"});
  ASSERT_TRUE(run.exit.success()) << run.output;
  EXPECT_NE(run.output.find(Sha256Of(big_)), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("new"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find('y'), std::string::npos) << run.output;
  EXPECT_TRUE(FuseMountsUnder(root_).empty()) << "no lazy mount for it";
  ASSERT_NO_FATAL_FAILURE(RemoveImageAndStop(ref));
  EXPECT_EQ(Metric("syspgo_snapshotter_remote_layers_total"), 0);
  EXPECT_EQ(Metric("syspgo_snapshotter_unpacked_layers_total"), static_cast<int64_t>(4));
  ExpectNothingLeft();
}

// The snapshotter SIGKILLed while a container runs: the container then
// reads a file it had not read before (most of it from the layers, through
// the mount's own server) correctly; the restarted snapshotter starts new
// containers; then removal leaves nothing.
TEST_F(ContainerdTest, SnapshotterKilledWhileAContainerRuns) {
  const std::string ref = PushWithRuntimeImage("ctd/restart");
  ASSERT_FALSE(HasFailure());
  auto pulled = PullIntoContainerd(ref);
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  const std::string out = JoinPath(base_, "long.out");
  Subprocess run = SpawnCtr({"run", "--rm", "--snapshotter", "syspgo", ref, "long", "sh", "-c",
                             "cat /data/over; echo; echo started; sleep 3; sha256sum /data/big2"},
                            out);
  ASSERT_TRUE(WaitForText(out, "started", run, seconds(60))) << FileText(out);
  ASSERT_TRUE(snapshotter_.Signal(SIGKILL).ok());
  ASSERT_TRUE(snapshotter_.WaitFor(seconds(30)).ok());
  ASSERT_NO_FATAL_FAILURE(StartSnapshotter());
  auto exit = run.WaitFor(seconds(60));
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->success()) << FileText(out);
  EXPECT_NE(FileText(out).find(Sha256Of(SampleData(3 << 20, 2))), std::string::npos)
      << "big2, read after the restart: " << FileText(out);
  auto again = Ctr({"run", "--rm", "--snapshotter", "syspgo", ref, "after", "cat", "/data/over"});
  EXPECT_TRUE(again.exit.success()) << again.output;
  EXPECT_NE(again.output.find("new"), std::string::npos) << again.output;
  EXPECT_EQ(FuseMountsUnder(root_).size(), 1u);
  ASSERT_NO_FATAL_FAILURE(RemoveImageAndStop(ref));
  ExpectNothingLeft();
}

// The image's mount server is gone (as after a reboot) and the registry
// hangs when a container starts: containerd gets a clear error within the
// fetch timeout, nothing hangs; with the registry back, the next start
// mounts the image again.
TEST_F(ContainerdTest, RegistryHungDuringAStart) {
  const std::string ref = PushWithRuntimeImage("ctd/hung");
  ASSERT_FALSE(HasFailure());
  auto pulled = PullIntoContainerd(ref);
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  auto servers = MountServers();
  ASSERT_EQ(servers.size(), 1u);
  ::kill(servers[0], SIGKILL);
  ::waitpid(servers[0], nullptr, 0);
  registry().Pause();
  auto run = Ctr({"run", "--rm", "--snapshotter", "syspgo", ref, "hung", "cat", "/data/over"},
                 seconds(90));
  registry().Resume();
  EXPECT_FALSE(run.exit.success()) << run.output;
  EXPECT_LT(run.seconds, 45.0) << run.output;
  EXPECT_NE(run.output.find(registry().address()), std::string::npos)
      << "the error names the registry: " << run.output;
  // The snapshotter leaves the registry alone for 10 s after the stall
  // (oci::RegistryHealth); then the start mounts the image again.
  Ran again;
  const auto deadline = std::chrono::steady_clock::now() + seconds(40);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    again = Ctr({"run", "--rm", "--snapshotter", "syspgo", ref, "back" + std::to_string(i), "cat",
                 "/data/over"});
    if (again.exit.success()) break;
    std::this_thread::sleep_for(seconds(2));
  }
  EXPECT_TRUE(again.exit.success()) << again.output;
  EXPECT_NE(again.output.find("new"), std::string::npos) << again.output;
  ASSERT_NO_FATAL_FAILURE(RemoveImageAndStop(ref));
  ExpectNothingLeft();
}

// A runtime image forged by someone with push rights to the repository
// (self-consistent: /data/over holds "bad") and signed with a key the node
// does not trust, while the node's policy asks for a trusted signature:
// the snapshotter refuses it, containerd downloads and unpacks the layers,
// and the container reads the image's own bytes.
TEST_F(ContainerdTest, ForgedRuntimeImageIsRefused) {
  const std::string ref = PushWithRuntimeImage("ctd/forged");
  ASSERT_FALSE(HasFailure());
  PushForgery("ctd/forged", Root("rt-forged"));
  ASSERT_FALSE(HasFailure());
  const std::string policy = SignedOnlyPolicy(Root("trusted.key"), Root("other.key"));
  ASSERT_FALSE(HasFailure());
  auto signed_by_other = Syspgo({"image", "sign", "--sign-key", Root("other.key"), ref});
  ASSERT_TRUE(signed_by_other.exit.success()) << signed_by_other.output;
  // The snapshotter restarted with that policy.
  ASSERT_TRUE(snapshotter_.Signal(SIGTERM).ok());
  ASSERT_TRUE(snapshotter_.WaitFor(seconds(30)).ok());
  snapshotter_extra_ = {"--trust-policy", policy};
  ASSERT_NO_FATAL_FAILURE(StartSnapshotter());

  auto pulled = PullIntoContainerd(ref);
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  auto run = Ctr({"run", "--rm", "--snapshotter", "syspgo", ref, "forged", "sh", "-c",
                  "cat /data/over; echo; sha256sum /data/big.bin"});
  ASSERT_TRUE(run.exit.success()) << run.output;
  EXPECT_EQ(run.output.find("bad"), std::string::npos) << "the forgery was served: " << run.output;
  EXPECT_NE(run.output.find("new"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find(Sha256Of(big_)), std::string::npos) << run.output;
  EXPECT_TRUE(FuseMountsUnder(root_).empty()) << "no lazy mount for a refused runtime image";
  EXPECT_NE(FileText(snapshotter_log_).find("signature"), std::string::npos)
      << "the log says why: " << FileText(snapshotter_log_);
  ASSERT_NO_FATAL_FAILURE(RemoveImageAndStop(ref));
  EXPECT_EQ(Metric("syspgo_snapshotter_remote_layers_total"), 0);
  EXPECT_EQ(Metric("syspgo_snapshotter_unpacked_layers_total"),
            static_cast<int64_t>(LayerDigests().size()));
  ExpectNothingLeft();
}

// The trust policy of a running snapshotter changes: a changed file is
// loaded within about a second (and on SIGHUP), decisions made under the
// old policy go, and the next pull follows the new one: with "none", an
// image that has a runtime image is unpacked from its layers.
TEST_F(ContainerdTest, TrustPolicyIsReloadedWhenItsFileChanges) {
  const std::string ref = PushWithRuntimeImage("ctd/reload");
  ASSERT_FALSE(HasFailure());
  const std::string policy = JoinPath(base_, "policy.json");
  auto write_policy = [&](const char* accept) {
    ASSERT_TRUE(
        WriteFileAtomic(policy,
                        std::string(R"({"version": 1, "rules": [{"scope": "*", "accept": ")") +
                            accept + "\"}]}",
                        0644, false)
            .ok());
  };
  ASSERT_NO_FATAL_FAILURE(write_policy("unsigned"));
  ASSERT_TRUE(snapshotter_.Signal(SIGTERM).ok());
  ASSERT_TRUE(snapshotter_.WaitFor(seconds(30)).ok());
  snapshotter_extra_ = {"--trust-policy", policy};
  ASSERT_NO_FATAL_FAILURE(StartSnapshotter());
  ASSERT_NO_FATAL_FAILURE(write_policy("none"));
  ASSERT_TRUE(WaitForText(snapshotter_log_, "(the file changed)", snapshotter_, seconds(10)))
      << FileText(snapshotter_log_);
  auto pulled = PullIntoContainerd(ref);
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  EXPECT_TRUE(FuseMountsUnder(root_).empty()) << "the new policy uses no runtime image";
  auto run = Ctr({"run", "--rm", "--snapshotter", "syspgo", ref, "reload", "cat", "/data/over"});
  EXPECT_TRUE(run.exit.success()) << run.output;
  EXPECT_NE(run.output.find("new"), std::string::npos) << run.output;
  // SIGHUP loads it again even when the file looks unchanged.
  ASSERT_TRUE(snapshotter_.Signal(SIGHUP).ok());
  ASSERT_TRUE(WaitForText(snapshotter_log_, "(SIGHUP)", snapshotter_, seconds(10)))
      << FileText(snapshotter_log_);
  ASSERT_NO_FATAL_FAILURE(RemoveImageAndStop(ref));
  EXPECT_EQ(Metric("syspgo_snapshotter_policy_reloads_total"), 2);
  EXPECT_EQ(Metric("syspgo_snapshotter_remote_layers_total"), 0);
  EXPECT_EQ(Metric("syspgo_snapshotter_up"), 0);
  ExpectNothingLeft();
}

// Bytes changed on the registry's disk after the runtime image was built:
// one in the runtime image's blob (in a traced chunk) and one in a layer,
// inside a large file where the trace did not look. containerd downloads
// no layer (the snapshots are remote), so only the mount can notice: the
// tampered chunk's bytes come from the verified layer instead, and the
// tampered piece of the layer is an I/O error in the container, never
// other bytes.
TEST_F(ContainerdTest, TamperedBytesAreNeverServed) {
  const std::string ref = PushWithRuntimeImage("ctd/tampered");
  ASSERT_FALSE(HasFailure());
  auto found = rtimage::FindRuntimeImage(*client_, "ctd/tampered", image_.manifest_digest);
  ASSERT_TRUE(found.ok() && *found);
  ASSERT_NO_FATAL_FAILURE(FlipOnDisk((*found)->blob.digest, (*found)->blob.size / 2));
  const oci::Descriptor& data = image_.manifest.layers[1];  // big.bin is most of it
  ASSERT_NO_FATAL_FAILURE(FlipOnDisk(data.digest, data.size * 2 / 3));

  auto pulled = PullIntoContainerd(ref);
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  auto run =
      Ctr({"run", "--rm", "--snapshotter", "syspgo", ref, "tampered", "sh", "-c",
           "cat /data/over; echo; sha256sum /data/big2; sha256sum /data/big.bin; echo status=$?"});
  EXPECT_NE(run.output.find("new"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find(Sha256Of(SampleData(3 << 20, 2))), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find(Sha256Of(big_)), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("Input/output error"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("status=1"), std::string::npos) << run.output;
  auto stats = node::SharedMounts(root_, nullptr).Stats(image_.manifest_digest);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_GT(stats->fs["page_cache"]["chunks_failed"].get<int64_t>(), 0) << stats->ToJson().dump(2);
  ASSERT_NO_FATAL_FAILURE(RemoveImageAndStop(ref));
  ExpectNothingLeft();
}

// Kubernetes' path: the kubelet's CRI PullImage (containerd's CRI plugin
// adds the snapshot labels itself), then a container in the k8s.io
// namespace on the syspgo snapshotter.
TEST_F(ContainerdTest, KubernetesCriPullImage) {
  const std::string ref = PushWithRuntimeImage("ctd/cri");
  ASSERT_FALSE(HasFailure());
  auto channel =
      grpc::CreateChannel("unix:" + containerd_sock_, grpc::InsecureChannelCredentials());
  auto cri = runtime::v1::ImageService::NewStub(channel);
  runtime::v1::PullImageRequest req;
  req.mutable_image()->set_image(ref);
  runtime::v1::PullImageResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + seconds(120));
  grpc::Status st = cri->PullImage(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << FileText(JoinPath(base_, "containerd.log"));
  EXPECT_FALSE(resp.image_ref().empty());
  auto content = Ctr({"-n", "k8s.io", "content", "ls", "-q"});
  for (const std::string& layer : LayerDigests()) {
    EXPECT_EQ(content.output.find(layer), std::string::npos)
        << "layer " << layer << " was downloaded";
  }
  auto run = Ctr({"-n", "k8s.io", "run", "--rm", "--snapshotter", "syspgo", ref, "pod", "sh", "-c",
                  "sha256sum /data/big.bin; cat /data/over"});
  ASSERT_TRUE(run.exit.success()) << run.output;
  EXPECT_NE(run.output.find(Sha256Of(big_)), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("new"), std::string::npos) << run.output;
  runtime::v1::RemoveImageRequest rm_req;
  rm_req.mutable_image()->set_image(ref);
  runtime::v1::RemoveImageResponse rm_resp;
  grpc::ClientContext rm_ctx;
  rm_ctx.set_deadline(std::chrono::system_clock::now() + seconds(60));
  st = cri->RemoveImage(&rm_ctx, rm_req, &rm_resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  // The CRI plugin removes the image; containerd's collector then removes
  // its snapshots in the background.
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < deadline && !FuseMountsUnder(root_).empty()) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(snapshotter_.Signal(SIGTERM).ok());
  ASSERT_TRUE(snapshotter_.WaitFor(seconds(30)).ok());
  EXPECT_EQ(Metric("syspgo_snapshotter_remote_layers_total"),
            static_cast<int64_t>(LayerDigests().size()));
  ExpectNothingLeft();
}

// A private registry as the docs' set-up describes it: TLS with a
// self-signed CA in certs.d/HOST (hosts.toml and ca.crt) and logins from
// a docker credential helper named in config.json. `syspgo pull
// --containerd-address` and the snapshotter use exactly that, nothing
// else: the pull works, the helper is asked, the container runs.
TEST_F(ContainerdTest, PullFromATlsRegistryWithAHelpersLogin) {
  if (::access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "openssl is not installed";
  RegistryFixtureOptions options;
  options.tls = true;
  options.user = "alice";
  options.password = "correct horse";
  auto tls_registry = RegistryFixture::Start(options);
  ASSERT_TRUE(tls_registry.ok()) << tls_registry.status().ToString();
  const std::string host = (*tls_registry)->address();
  const std::string certs = JoinPath(base_, "certs.d");
  ASSERT_TRUE(MakeDirs(JoinPath(certs, host)).ok());
  auto ca = ReadFileToString((*tls_registry)->ca_path());
  ASSERT_TRUE(ca.ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(certs, host + "/ca.crt"), *ca, 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(certs, host + "/hosts.toml"),
                              "server = \"https://" + host + "\"\nca = \"ca.crt\"\n", 0644)
                  .ok());
  const std::string bin = JoinPath(base_, "bin");
  ASSERT_TRUE(MakeDirs(bin).ok());
  const std::string asked = JoinPath(base_, "vault.asked");
  ASSERT_TRUE(WriteFileAtomic(JoinPath(bin, "docker-credential-vault"),
                              "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread server\n"
                              "echo \"$server\" >> " +
                                  asked +
                                  "\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"alice\","
                                  "\"Secret\":\"correct horse\"}' \"$server\"\n",
                              0755)
                  .ok());
  const std::string auth = JoinPath(base_, "config.json");
  ASSERT_TRUE(WriteFileAtomic(auth, "{\"credHelpers\":{\"" + host + "\":\"vault\"}}", 0600).ok());
  // The helper on PATH for every program the test starts from here on.
  const char* path = std::getenv("PATH");
  const std::string old_path = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  ASSERT_EQ(::setenv("PATH", (bin + ":" + old_path).c_str(), 1), 0);
  struct RestorePath {
    std::string value;
    ~RestorePath() { ::setenv("PATH", value.c_str(), 1); }
  } restore{old_path};
  const std::string ref = host + "/private/app:v1";
  auto pushed = PushWithLogin(ref, {{IntegrationEnv::Get().busybox_rootfs(), ""}}, "alice",
                              "correct horse", certs);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  // The snapshotter with the same configuration (it asks the registry
  // whether the image has a runtime image).
  ASSERT_TRUE(snapshotter_.Signal(SIGTERM).ok());
  ASSERT_TRUE(snapshotter_.WaitFor(seconds(30)).ok());
  snapshotter_extra_ = {"--certs-dir", certs, "--authfile", auth};
  ASSERT_NO_FATAL_FAILURE(StartSnapshotter());
  auto pulled = Syspgo({"pull", "--containerd-address", containerd_sock_, "--certs-dir", certs,
                        "--authfile", auth, ref});
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  auto asked_text = ReadFileToString(asked);
  ASSERT_TRUE(asked_text.ok()) << "the credential helper was never run";
  EXPECT_NE(asked_text->find(host + "\n"), std::string::npos) << *asked_text;
  auto run = Ctr({"run", "--rm", "--snapshotter", "syspgo", ref, "tls", "sh", "-c",
                  "echo hello from a private registry"});
  EXPECT_TRUE(run.exit.success()) << run.output;
  EXPECT_NE(run.output.find("hello from a private registry"), std::string::npos) << run.output;
  // Without the CA, the pull fails on the certificate and says so.
  const std::string bare = JoinPath(base_, "bare.d");
  ASSERT_TRUE(MakeDirs(JoinPath(bare, host)).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(bare, host + "/hosts.toml"),
                              "server = \"https://" + host + "\"\n", 0644)
                  .ok());
  auto refused = Syspgo({"pull", "--containerd-address", containerd_sock_, "--certs-dir", bare,
                         "--authfile", auth, host + "/private/app:v1"});
  EXPECT_FALSE(refused.exit.success()) << refused.output;
  EXPECT_NE(refused.output.find("certificate"), std::string::npos) << refused.output;
  ASSERT_NO_FATAL_FAILURE(RemoveImageAndStop(ref));
}

// A base layer served from A's runtime image is unpacked here when B (no
// runtime image) needs it below its own layer. A byte of that layer
// changed on the registry's disk after A was pulled: the unpack is
// refused on the layer's digest, B's pull fails saying so, and no
// directory of the layer is left for any image to stand on.
TEST_F(ContainerdTest, TamperedBaseLayerIsNeverUnpackedForAnotherImage) {
  auto own = [](const std::string& who) {
    return MakeTar({DirEntry("data/"), FileEntry("data/who", 1)}, {"", who});
  };
  const std::string a = PushSampleImage("ctd/tamper-a", own("a"));
  AddRuntimeImage(a, "ctd/tamper-a");
  ASSERT_FALSE(HasFailure());
  const oci::Descriptor base = image_.manifest.layers[1];  // big.bin
  const std::string b = PushSampleImage("ctd/tamper-b", own("b"));
  ASSERT_FALSE(HasFailure());
  auto pulled_a = PullIntoContainerd(a);
  ASSERT_TRUE(pulled_a.exit.success()) << pulled_a.output;
  ASSERT_NO_FATAL_FAILURE(FlipOnDisk(base.digest, base.size * 2 / 3));
  auto pulled_b = PullIntoContainerd(b);
  EXPECT_FALSE(pulled_b.exit.success()) << pulled_b.output;
  EXPECT_NE(pulled_b.output.find("digest mismatch"), std::string::npos) << pulled_b.output;
  EXPECT_NE(FileText(snapshotter_log_).find(base.digest.ToString()), std::string::npos)
      << FileText(snapshotter_log_);
  // Nothing half-unpacked stays behind.
  auto dirs = ListDir(JoinPath(root_, "snapshotter/snapshots"));
  for (const std::string& d : dirs.ok() ? *dirs : std::vector<std::string>()) {
    EXPECT_FALSE(PathExists(JoinPath(root_, "snapshotter/snapshots/" + d + "/fs.partial"))) << d;
  }
  Ctr({"images", "rm", "--sync", b});
  ASSERT_NO_FATAL_FAILURE(RemoveImageAndStop(a));
  // The layer below the tampered one may have been unpacked; the tampered
  // one never was.
  EXPECT_LE(Metric("syspgo_snapshotter_materialized_layers_total"), 1);
  EXPECT_GE(Metric("syspgo_snapshotter_errors_total"), 1);
  ExpectNothingLeft();
}

// containerd's name of an image's top layer snapshot: the chain id of its
// diff_ids (image-spec config.md).
std::string ChainId(const std::vector<oci::Digest>& diff_ids) {
  std::string chain;
  for (const oci::Digest& d : diff_ids) {
    chain = chain.empty() ? d.ToString() : "sha256:" + Sha256Of(chain + " " + d.ToString());
  }
  return chain;
}

// Three images on one base (the sample image's four layers), each with a
// layer of its own (/data/who): A has a runtime image, B has none, C gets
// one after its first pull. In every pull order, through `via`: every
// pull works and every container reads the right bytes; A's own layer is
// a remote snapshot and is never fetched, whether its base was unpacked
// here first (B or C before it) or not (then the base is unpacked once,
// when B or C needs it below their layer); C, removed and pulled again
// once its runtime image exists, is served from it.
class SharedBaseTest : public ContainerdTest {
 public:
  using ContainerdTest::Via;
  void Run(Via via) {
    const std::string tag = via == Via::kCri ? "cri" : "ctr";
    struct Image {
      std::string ref;
      std::string who;
      std::string top;  // chain id of its top layer
      oci::Digest own;  // its own (last) layer
      oci::Digest manifest;
      bool optimized = false;
    };
    auto push = [&](const std::string& repo, const std::string& who, bool runtime_image) {
      Image im;
      im.who = who;
      im.ref = PushSampleImage(
          repo,
          MakeTar({DirEntry("data/"), FileEntry("data/who", static_cast<int64_t>(who.size()))},
                  {"", who}));
      if (runtime_image) {
        AddRuntimeImage(im.ref, repo);
      } else {
        auto pulled = Pull(im.ref);
        EXPECT_TRUE(pulled.ok()) << pulled.status().ToString();
        if (pulled.ok()) image_ = *pulled;
      }
      im.top = ChainId(image_.config.diff_ids);
      im.own = image_.manifest.layers.back().digest;
      im.manifest = image_.manifest_digest;
      im.optimized = runtime_image;
      return im;
    };
    const Image a = push("ctd/share-" + tag + "-a", "a", true);
    const Image b = push("ctd/share-" + tag + "-b", "b", false);
    ASSERT_FALSE(HasFailure());
    const std::string ns = Namespace(via);
    auto check = [&](const Image& im, const std::string& when) {
      SCOPED_TRACE(im.ref + " " + when);
      auto run = Ctr({"-n", ns, "run", "--rm", "--snapshotter", "syspgo", im.ref,
                      "c" + std::to_string(++containers_), "sh", "-c",
                      "cat /data/who; echo; cat /data/over; echo; sha256sum /data/big.bin"});
      EXPECT_TRUE(run.exit.success()) << run.output;
      EXPECT_NE(run.output.find(im.who + "\nnew\n"), std::string::npos) << run.output;
      EXPECT_NE(run.output.find(Sha256Of(big_)), std::string::npos) << run.output;
      EXPECT_EQ(ServedRemotely(via, im.top), im.optimized)
          << "top snapshot labels: " << SnapshotLabels(via, im.top).value_or("none").dump();
      auto content = Ctr({"-n", ns, "content", "ls", "-q"});
      EXPECT_EQ(content.output.find(im.own.ToString()) == std::string::npos, im.optimized)
          << "own layer " << im.own.ToString() << " fetched: " << content.output;
      if (im.optimized) {
        EXPECT_TRUE(node::SharedMounts(root_, nullptr).Stats(im.manifest).ok())
            << "no shared mount for " << im.ref;
      }
    };
    std::vector<int> order = {0, 1, 2};
    int round = 0;
    do {
      ++round;
      SCOPED_TRACE("order " + std::to_string(order[0]) + std::to_string(order[1]) +
                   std::to_string(order[2]) + " (0 = A optimized, 1 = B plain, 2 = C later)");
      Image c = push("ctd/share-" + tag + "-c" + std::to_string(round), "c" + std::to_string(round),
                     false);
      ASSERT_FALSE(HasFailure());
      const Image* images[] = {&a, &b, &c};
      // What each pull took, for the record (docs/containerd.md).
      std::string times = "order " + std::string(1, char('A' + order[0])) + char('A' + order[1]) +
                          char('A' + order[2]) + ":";
      for (int i : order) {
        const auto t0 = std::chrono::steady_clock::now();
        std::string err = PullVia(via, images[i]->ref);
        ASSERT_EQ(err, "") << images[i]->ref;
        char buf[64];
        std::snprintf(buf, sizeof(buf), " %c %.2f s", 'A' + i,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        times += buf;
      }
      std::printf("[ pulls    ] %s (%s)\n", times.c_str(), tag.c_str());
      for (int i : order) check(*images[i], "first pull");
      {
        auto listed = Syspgo({"images", "--json", "--root", root_});
        auto j = nlohmann::json::parse(listed.output, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << listed.output;
        std::map<std::string, std::string> modes;
        for (const auto& im : j["snapshotter"]["images"]) modes[im["reference"]] = im["mode"];
        EXPECT_EQ(modes[a.ref], "runtime-image") << j.dump(2);
        EXPECT_EQ(modes[b.ref], "unpacked") << j.dump(2);
        EXPECT_EQ(modes[c.ref], "unpacked") << j.dump(2);
      }
      // C's runtime image arrives; C is removed and pulled again.
      AddRuntimeImage(c.ref, "ctd/share-" + tag + "-c" + std::to_string(round));
      ASSERT_FALSE(HasFailure());
      c.optimized = true;
      ASSERT_NO_FATAL_FAILURE(RemoveVia(via, c.ref, c.top));
      ASSERT_EQ(PullVia(via, c.ref), "");
      check(c, "pulled again with its runtime image");
      // All gone for the next order.
      for (const Image* im : images) ASSERT_NO_FATAL_FAILURE(RemoveVia(via, im->ref, im->top));
      const auto deadline = std::chrono::steady_clock::now() + seconds(60);
      while (Lines(Ctr({"-n", ns, "snapshots", "--snapshotter", "syspgo", "ls"}).output).size() >
             1) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << Ctr({"-n", ns, "snapshots", "--snapshotter", "syspgo", "ls"}).output;
        std::this_thread::sleep_for(milliseconds(100));
      }
    } while (std::next_permutation(order.begin(), order.end()));
    ASSERT_TRUE(snapshotter_.Signal(SIGTERM).ok());
    auto exit = snapshotter_.WaitFor(seconds(30));
    ASSERT_TRUE(exit.ok());
    EXPECT_TRUE(exit->success()) << FileText(snapshotter_log_);
    EXPECT_EQ(Metric("syspgo_snapshotter_errors_total"), 0) << FileText(snapshotter_log_);
    // A pulled first in 2 of the 6 orders: then its four base layers are
    // unpacked once, under the first of B and C.
    EXPECT_EQ(Metric("syspgo_snapshotter_materialized_layers_total"), 2 * 4);
    ExpectNothingLeft();
  }

 private:
  int containers_ = 0;
};

TEST_F(SharedBaseTest, EveryPullOrderThroughCtr) { Run(Via::kCtr); }

TEST_F(SharedBaseTest, EveryPullOrderThroughCri) { Run(Via::kCri); }

}  // namespace
}  // namespace syspgo::testing
