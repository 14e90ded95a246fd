// SPDX-License-Identifier: Apache-2.0
// File: tests/integration/rtimage_fixture.h
//
// What the runtime image and lazy file system tests share: a sample image
// with every kind of entry (pushed to the test registry), pulling it,
// building its runtime image from a profile, and the image as overlayfs
// shows it, to compare with.
#ifndef SYSPGO_TESTS_INTEGRATION_RTIMAGE_FIXTURE_H_
#define SYSPGO_TESTS_INTEGRATION_RTIMAGE_FIXTURE_H_

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/unique_fd.h"
#include "integration/integration_env.h"
#include "oci/layer_store.h"
#include "oci/puller.h"
#include "oci/registry_client.h"
#include "rtimage/builder.h"

namespace syspgo::testing {

// Compressible, not trivial, different per seed.
inline std::string SampleData(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out;
  out.reserve(size);
  while (out.size() < size) {
    out += "line " + std::to_string(rng() % 100000) + " of " + std::to_string(seed) + "\n";
    if (rng() % 5 == 0) out.push_back(static_cast<char>(rng()));
  }
  out.resize(size);
  return out;
}

inline oci::TarEntry WithType(oci::TarEntry e, oci::TarType type, std::string link = "") {
  e.type = type;
  e.linkname = std::move(link);
  e.size = 0;
  return e;
}

struct MergedFile {
  struct stat st;
  std::string symlink_target;
};

// Every path under root (as "/a/b"), lstat'ed; "/" included.
inline void Walk(const std::string& root, const std::string& rel,
                 std::map<std::string, MergedFile>* out) {
  std::string path = rel.empty() ? root : JoinPath(root, rel.substr(1));
  MergedFile f{};
  ASSERT_EQ(lstat(path.c_str(), &f.st), 0) << path;
  if (S_ISLNK(f.st.st_mode)) {
    char buf[4096];
    ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
    ASSERT_GT(n, 0);
    f.symlink_target.assign(buf, static_cast<size_t>(n));
  }
  (*out)[rel.empty() ? "/" : rel] = f;
  if (!S_ISDIR(f.st.st_mode)) return;
  auto names = ListDir(path);
  ASSERT_TRUE(names.ok());
  for (const std::string& name : *names) Walk(root, rel + "/" + name, out);
}

class RuntimeImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_INTEGRATION_ENV();
    auto dir = TempDir::Create("/tmp", "syspgo-rtimage-it-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    root_ = JoinPath(dir_.path(), "store");
    auto client = oci::RegistryClient::Create(registry().address(), opts_.options);
    ASSERT_TRUE(client.ok());
    client_.emplace(std::move(*client));
  }
  void TearDown() override {
    if (!merged_.empty()) umount2(merged_.c_str(), MNT_DETACH);
  }
  // The shared registry, unless a test set registry_override_.
  RegistryFixture& registry() {
    return registry_override_ ? *registry_override_ : IntegrationEnv::Get().registry();
  }

  // Three layers: busybox and data; whiteouts, an opaque directory, a hard
  // link, a symlink, a file over a directory, devices, xattrs; the top
  // layer overrides a file. `extra` adds a fourth layer (for dedup).
  std::string PushSampleImage(const std::string& repo, const std::string& extra = "") {
    std::string ref = registry().address() + "/" + repo + ":1";
    big_ = SampleData(9 << 20, 1);
    std::vector<oci::TarEntry> l1 = {DirEntry("data/"),
                                     FileEntry("data/big.bin", 0),
                                     FileEntry("data/gone.txt", 5),
                                     DirEntry("data/dir/"),
                                     FileEntry("data/dir/a", 1),
                                     DirEntry("data/opaque/"),
                                     FileEntry("data/opaque/x", 1),
                                     FileEntry("data/over", 3)};
    l1[1].size = static_cast<int64_t>(big_.size());
    l1[1].xattrs["user.rtimage"] = "yes";
    oci::TarEntry dev = FileEntry("data/null", 0, 0666);
    dev = WithType(dev, oci::TarType::kCharDevice);
    dev.devmajor = 1;
    dev.devminor = 3;
    l1.push_back(dev);
    std::string t1 = MakeTar(l1, {"", big_, "gone\n", "", "a", "", "x", "old"});
    std::string big2 = SampleData(3 << 20, 2);
    std::vector<oci::TarEntry> l2 = {
        DirEntry("data/"),
        FileEntry("data/.wh.gone.txt", 0),
        DirEntry("data/opaque/"),
        FileEntry("data/opaque/.wh..wh..opq", 0),
        FileEntry("data/opaque/y", 1),
        FileEntry("data/big2", static_cast<int64_t>(big2.size())),
        WithType(FileEntry("data/hl", 0), oci::TarType::kHardLink, "data/big2"),
        SymlinkEntry("data/sym", "big.bin"),
        FileEntry("data/dir", 4),
        WithType(FileEntry("data/fifo", 0), oci::TarType::kFifo),
    };
    std::string t2 = MakeTar(l2, {"", "", "", "", "y", big2, "", "", "file"});
    std::string t3 = MakeTar({DirEntry("data/"), FileEntry("data/over", 3)}, {"", "new"});
    std::vector<oci::LayerInput> layers = {
        {IntegrationEnv::Get().busybox_rootfs(), ""}, {"", t1}, {"", t2}, {"", t3}};
    if (!extra.empty()) layers.push_back({"", extra});
    auto built = PushImage(ref, layers);
    EXPECT_TRUE(built.ok()) << built.status().ToString();
    return ref;
  }

  Result<oci::LocalImage> Pull(const std::string& ref) {
    ASSIGN_OR_RETURN(oci::ImageReference r, oci::ImageReference::Parse(ref));
    ASSIGN_OR_RETURN(oci::LayerStore store, oci::LayerStore::Open(root_));
    store_ = std::make_unique<oci::LayerStore>(std::move(store));
    oci::Puller puller(store_.get(), opts_.options, nullptr);
    oci::PullOptions options;
    options.progress = false;
    return puller.Pull(r, options);
  }

  static rtimage::AccessProfile SampleProfile() {
    rtimage::AccessProfile p;
    p.source = "test profile";
    p.files = {{"/bin/busybox", 10, {{0, 3}, {20, 5}}},
               {"/data/big.bin", 20, {{0, 1}, {100, 300}, {1000, 2}, {2303, 1}}},
               {"/data/hl", 30, {{1, 2}}},  // hard link: data was read as data/big2
               {"/data/over", 40, {{0, 1}}},
               {"/data/sym", 50, {{0, 1}}},  // a symlink: not a file
               {"/proc/self/stat", 5, {{0, 1}}}};
    return p;
  }

  Result<rtimage::BuildReport> Build(const oci::LocalImage& image, const std::string& out,
                                     std::vector<rtimage::AccessProfile> profiles) {
    rtimage::BuildOptions o;
    o.image_digest = image.manifest_digest.ToString();
    o.image_reference = image.reference.ToString();
    o.output_dir = out;
    o.checkpoint_span = 1 << 20;  // many checkpoints in a small image
    o.profiles = std::move(profiles);
    for (size_t i = 0; i < image.manifest.layers.size(); ++i) {
      o.layers.push_back({image.manifest.layers[i], image.config.diff_ids[i],
                          store_->BlobPath(image.manifest.layers[i].digest)});
    }
    return rtimage::BuildRuntimeImage(o);
  }

  // The image as overlayfs shows it (read-only stack of its layers).
  std::string MountMerged(const oci::LocalImage& image) {
    merged_ = JoinPath(dir_.path(), "merged");
    EXPECT_TRUE(MakeDirs(merged_).ok());
    std::string lower;
    for (auto it = image.layer_paths.rbegin(); it != image.layer_paths.rend(); ++it) {
      lower += (lower.empty() ? "" : ":") + *it;
    }
    std::string data = "lowerdir=" + lower;
    EXPECT_EQ(mount("overlay", merged_.c_str(), "overlay", MS_RDONLY, data.c_str()), 0)
        << strerror(errno);
    return merged_;
  }

  static std::string FileBytes(const std::string& path, uint64_t offset, uint64_t length) {
    auto fd = UniqueFd::Open(path, O_RDONLY);
    EXPECT_TRUE(fd.ok());
    std::string out(length, '\0');
    ssize_t n = pread(fd->get(), out.data(), length, static_cast<off_t>(offset));
    EXPECT_EQ(n, static_cast<ssize_t>(length));
    return out;
  }

  std::string Repo(const std::string& ref) { return oci::ImageReference::Parse(ref)->repository; }

  RegistryFixture* registry_override_ = nullptr;
  TestRegistryOptions opts_;
  std::optional<oci::RegistryClient> client_;
  std::unique_ptr<oci::LayerStore> store_;
  TempDir dir_;
  std::string root_;
  std::string merged_;
  std::string big_;
};

}  // namespace syspgo::testing

#endif  // SYSPGO_TESTS_INTEGRATION_RTIMAGE_FIXTURE_H_
