// SPDX-License-Identifier: Apache-2.0
// Pulls from a real docker-registry: formats, dedup, verification, hostile
// layers.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/process.h"
#include "integration/integration_env.h"
#include "oci/layer_store.h"
#include "oci/puller.h"
#include "oci/registry_client.h"
#include "support/http_test_server.h"

namespace syspgo::testing {
namespace {

using oci::Compression;

class PullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_INTEGRATION_ENV();
    auto dir = TempDir::Create("/tmp", "syspgo-pull-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    store_root_ = JoinPath(dir_.path(), "store");
  }
  std::string Ref(const std::string& name) {
    return IntegrationEnv::Get().registry().address() + "/" + name;
  }
  Result<oci::LocalImage> Pull(const std::string& ref, oci::PullStats* stats = nullptr) {
    ASSIGN_OR_RETURN(oci::LayerStore store, oci::LayerStore::Open(store_root_));
    TestRegistryOptions registry;
    oci::Puller puller(&store, registry.options, nullptr);
    oci::PullOptions options;
    options.progress = false;
    ASSIGN_OR_RETURN(oci::ImageReference r, oci::ImageReference::Parse(ref));
    return puller.Pull(r, options, stats);
  }
  // The store holds no blob, layer or temp file of a failed pull.
  void ExpectStoreEmptyOfLayers() {
    auto layers = ListDir(JoinPath(store_root_, "layers/sha256"));
    ASSERT_TRUE(layers.ok());
    EXPECT_TRUE(layers->empty());
    ExpectNoStaleSessions();
  }
  void ExpectNoStaleSessions() {
    auto sessions = ListDir(JoinPath(store_root_, "tmp"));
    ASSERT_TRUE(sessions.ok());
    EXPECT_TRUE(sessions->empty());
  }
  TempDir dir_;
  std::string store_root_;
};

TEST_F(PullTest, PullsAndASecondPullMovesNoLayer) {
  auto built = PushImage(Ref("busybox:gzip"), {{IntegrationEnv::Get().busybox_rootfs(), ""}});
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  oci::PullStats stats;
  auto image = Pull(Ref("busybox:gzip"), &stats);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(stats.layers_fetched, 1);
  struct stat orig, pulled;
  ASSERT_EQ(::stat("/bin/busybox", &orig), 0);
  ASSERT_EQ(::stat(JoinPath(image->layer_paths[0], "bin/busybox").c_str(), &pulled), 0);
  EXPECT_EQ(orig.st_size, pulled.st_size);
  EXPECT_EQ(orig.st_mode & 07777, pulled.st_mode & 07777);
  char target[64] = {0};
  ASSERT_GT(::readlink(JoinPath(image->layer_paths[0], "bin/sh").c_str(), target, 63), 0);
  EXPECT_STREQ(target, "busybox");

  oci::PullStats again;
  ASSERT_TRUE(Pull(Ref("busybox:gzip"), &again).ok());
  EXPECT_EQ(again.layers_fetched, 0);
  EXPECT_EQ(again.layers_local, 1);
  EXPECT_LT(again.bytes_fetched, 4096);  // the manifest only
}

// Starts on one node at once pull one image: each layer crosses the link
// once; the others wait for it and find it stored.
TEST_F(PullTest, ConcurrentPullsOfOneImageFetchEachLayerOnce) {
  auto built = PushImage(Ref("busybox:concurrent"),
                         {{IntegrationEnv::Get().busybox_rootfs(), ""},
                          {"", MakeTar({DirEntry("opt"), FileEntry("opt/x", 5)}, {"", "hello"})}});
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  constexpr int kPulls = 4;
  oci::PullStats stats[kPulls];
  Status results[kPulls];
  std::vector<std::thread> pulls;
  for (int i = 0; i < kPulls; ++i) {
    pulls.emplace_back([&, i] {
      auto image = Pull(Ref("busybox:concurrent"), &stats[i]);
      results[i] = image.status();
      if (image.ok()) {
        auto x = ReadFileToString(JoinPath(image->layer_paths[1], "opt/x"));
        EXPECT_TRUE(x.ok() && *x == "hello");
      }
    });
  }
  for (auto& t : pulls) t.join();
  int fetched = 0, local = 0;
  for (int i = 0; i < kPulls; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].ToString();
    fetched += stats[i].layers_fetched;
    local += stats[i].layers_local;
  }
  EXPECT_EQ(fetched, 2);
  EXPECT_EQ(local, 2 * kPulls - 2);
  ExpectNoStaleSessions();
}

TEST_F(PullTest, ZstdUncompressedAndDockerMediaTypes) {
  const std::string rootfs = IntegrationEnv::Get().busybox_rootfs();
  ASSERT_TRUE(PushImage(Ref("busybox:zstd"), {{rootfs, ""}}, Compression::kZstd).ok());
  ASSERT_TRUE(PushImage(Ref("busybox:plain"), {{rootfs, ""}}, Compression::kNone).ok());
  ASSERT_TRUE(PushImage(Ref("busybox:docker"), {{rootfs, ""}}, Compression::kGzip, true).ok());
  for (const char* tag : {"busybox:zstd", "busybox:plain", "busybox:docker"}) {
    auto image = Pull(Ref(tag));
    ASSERT_TRUE(image.ok()) << tag << ": " << image.status().ToString();
    EXPECT_TRUE(PathExists(JoinPath(image->layer_paths[0], "bin/busybox"))) << tag;
  }
}

TEST_F(PullTest, ImageIndexSelectsLinuxAmd64) {
  auto built = PushImage(Ref("multi:amd64"), {{IntegrationEnv::Get().busybox_rootfs(), ""}});
  ASSERT_TRUE(built.ok());
  auto arm = PushImage(Ref("multi:arm64"), {{"", MakeTar({DirEntry("arm/")})}});
  ASSERT_TRUE(arm.ok());
  oci::ImageIndex index;
  index.media_type = std::string(oci::media_type::kOciIndex);
  auto desc = [](const oci::BuiltImage& b, const char* arch) {
    oci::Descriptor d;
    d.media_type = std::string(oci::media_type::kOciManifest);
    d.digest = b.manifest_digest;
    d.size = static_cast<int64_t>(b.manifest.size());
    d.platform = oci::Platform{"linux", arch, ""};
    return d;
  };
  index.manifests = {desc(*arm, "arm64"), desc(*built, "amd64")};
  TestRegistryOptions registry;
  auto client =
      oci::RegistryClient::Create(IntegrationEnv::Get().registry().address(), registry.options);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client
                  ->PushManifest("multi", "index", oci::media_type::kOciIndex,
                                 oci::SerializeImageIndex(index))
                  .ok());
  auto image = Pull(Ref("multi:index"));
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->manifest_digest, built->manifest_digest);
  EXPECT_TRUE(PathExists(JoinPath(image->layer_paths[0], "bin/busybox")));
}

TEST_F(PullTest, BlobCorruptedOnRegistryDiskIsRejectedAndNotKept) {
  // A layer of its own: the registry's copy of the busybox layer, which
  // the other tests share, stays intact.
  auto built =
      PushImage(Ref("corrupt:v1"),
                {{"", MakeTar({FileEntry("corrupt-only", 100000)}, {std::string(100000, 'c')})}});
  ASSERT_TRUE(built.ok());
  std::string data = IntegrationEnv::Get().registry().BlobDataPath(built->layers[0].digest);
  {
    auto fd = UniqueFd::Open(data, O_RDWR);
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    char c;
    off_t at = static_cast<off_t>(built->layers[0].size / 2);
    ASSERT_EQ(::pread(fd->get(), &c, 1, at), 1);
    c ^= 0x40;
    ASSERT_EQ(::pwrite(fd->get(), &c, 1, at), 1);
  }
  auto image = Pull(Ref("corrupt:v1"));
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), StatusCode::kCorruption);
  EXPECT_NE(image.status().message().find("digest mismatch"), std::string::npos)
      << image.status().message();
  EXPECT_NE(image.status().message().find(built->layers[0].digest.ToString()), std::string::npos);
  EXPECT_FALSE(PathExists(JoinPath(store_root_, "blobs/sha256/" + built->layers[0].digest.hex)));
  ExpectStoreEmptyOfLayers();
}

TEST_F(PullTest, HostileLayersWriteNothingOutsideTheRoot) {
  const std::string tag = std::to_string(::getpid());
  const std::string escape_name = "syspgo-escape-" + tag;
  // Names whose ".." climbs above the root are refused outright.
  for (const std::string& name : {"../../../../../../tmp/" + escape_name, "/../tmp/" + escape_name,
                                  "a/../../tmp/" + escape_name}) {
    auto built =
        PushImage(Ref("hostile:dotdot"), {{"", MakeTar({FileEntry(name, 5)}, {"evil\n"})}});
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    auto image = Pull(Ref("hostile:dotdot"));
    ASSERT_FALSE(image.ok()) << name;
    EXPECT_EQ(image.status().code(), StatusCode::kPermissionDenied) << image.status().ToString();
    EXPECT_NE(image.status().message().find("refusing"), std::string::npos);
    EXPECT_FALSE(PathExists("/tmp/" + escape_name));
    ExpectStoreEmptyOfLayers();
  }
  // An absolute name is a path inside the root (as containerd, docker and
  // umoci read it): it lands in the layer.
  {
    auto built = PushImage(Ref("hostile:absolute"),
                           {{"", MakeTar({FileEntry("/tmp/" + escape_name, 5)}, {"evil\n"})}});
    ASSERT_TRUE(built.ok());
    auto image = Pull(Ref("hostile:absolute"));
    ASSERT_TRUE(image.ok()) << image.status().ToString();
    EXPECT_FALSE(PathExists("/tmp/" + escape_name));
    EXPECT_TRUE(PathExists(JoinPath(image->layer_paths[0], "tmp/" + escape_name)));
  }
  // A symlink to / and then a file through it lands inside the layer.
  auto built =
      PushImage(Ref("hostile:symlink"),
                {{"", MakeTar({SymlinkEntry("root", "/"), FileEntry("root/tmp/" + escape_name, 5)},
                              {"", "evil\n"})}});
  ASSERT_TRUE(built.ok());
  auto image = Pull(Ref("hostile:symlink"));
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_FALSE(PathExists("/tmp/" + escape_name));
  EXPECT_TRUE(PathExists(JoinPath(image->layer_paths[0], "tmp/" + escape_name)));
}

TEST_F(PullTest, KilledPullLeavesNothingHalfWrittenAndTheNextPullWorks) {
  // Serve the image from the real registry through a proxy that stalls the
  // layer halfway the first time, so the pull is killed mid-layer.
  auto built = PushImage(Ref("killed:v1"), {{IntegrationEnv::Get().busybox_rootfs(), ""}});
  ASSERT_TRUE(built.ok());
  TestRegistryOptions registry;
  auto upstream =
      oci::RegistryClient::Create(IntegrationEnv::Get().registry().address(), registry.options);
  ASSERT_TRUE(upstream.ok());
  auto manifest = upstream->GetManifest("killed", "v1");
  ASSERT_TRUE(manifest.ok());
  auto parsed = oci::ParseImageManifest(manifest->body);
  ASSERT_TRUE(parsed.ok());
  auto config = upstream->FetchSmallBlob("killed", parsed->config);
  ASSERT_TRUE(config.ok());
  std::string layer;
  ASSERT_TRUE(upstream
                  ->FetchBlob("killed", built->layers[0].digest, 0,
                              [&](std::span<const char> c) {
                                layer.append(c.data(), c.size());
                                return Status::Ok();
                              })
                  .ok());
  std::atomic<bool> stall{true};
  HttpTestServer proxy([&](const TestRequest& req) {
    TestResponse r;
    if (req.target.find("/manifests/") != std::string::npos) {
      r.headers.push_back({"Content-Type", manifest->media_type});
      r.body = manifest->body;
    } else if (req.target.find(parsed->config.digest.hex) != std::string::npos) {
      r.body = *config;
    } else {
      r.body = layer;
      if (stall.exchange(false)) r.stall_after = static_cast<int64_t>(layer.size() / 2);
    }
    return r;
  });
  const std::string ref = proxy.address() + "/killed:v1";
  auto child =
      Subprocess::Spawn({SYSPGO_BINARY, "pull", "--no-progress", "--root", store_root_, ref},
                        SpawnOptions{.null_stdin = true});
  ASSERT_TRUE(child.ok());
  // Wait until half the layer has reached the session's temp blob file.
  bool halfway = false;
  for (int i = 0; i < 1000 && !halfway; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto out =
        RunCommand({"sh", "-c", "cat " + store_root_ + "/tmp/*/layer-*/blob 2>/dev/null | wc -c"});
    halfway = out.ok() && std::atol(out->output.c_str()) >= static_cast<long>(layer.size() / 2);
  }
  ASSERT_TRUE(halfway) << "the pull never got halfway";
  ASSERT_TRUE(child->Signal(SIGKILL).ok());
  ASSERT_TRUE(child->Wait().ok());

  // Nothing of the layer is under a final name.
  EXPECT_FALSE(PathExists(JoinPath(store_root_, "blobs/sha256/" + built->layers[0].digest.hex)));
  auto layers = ListDir(JoinPath(store_root_, "layers/sha256"));
  ASSERT_TRUE(layers.ok());
  EXPECT_TRUE(layers->empty());
  // The next pull removes the dead session and completes.
  auto out = RunCommand({SYSPGO_BINARY, "pull", "--no-progress", "--root", store_root_, ref});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->exit.success()) << out->output;
  EXPECT_TRUE(PathExists(JoinPath(store_root_, "blobs/sha256/" + built->layers[0].digest.hex)));
  ExpectNoStaleSessions();
  proxy.Stop();
}

}  // namespace
}  // namespace syspgo::testing
