// SPDX-License-Identifier: Apache-2.0
// File: tests/integration/lazy_fs_fixture.h
//
// What the tests of the lazy root file system share: the syspgo binary run
// as users run it (`syspgo mount`, `syspgo run --mode ...`, each in a
// process of its own), FUSE availability, and the sample image with a
// runtime image pushed beside it. Every wait is bounded.
#ifndef SYSPGO_TESTS_INTEGRATION_LAZY_FS_FIXTURE_H_
#define SYSPGO_TESTS_INTEGRATION_LAZY_FS_FIXTURE_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/process.h"
#include "fs/image_fs.h"
#include "integration/integration_env.h"
#include "integration/rtimage_fixture.h"
#include "support/orphans.h"
#include "rtimage/artifact.h"
#include "rtimage/format.h"

namespace syspgo::testing {

using std::chrono::milliseconds;
using std::chrono::seconds;

inline std::string FileText(const std::string& path) {
  auto text = ReadFileToString(path);
  return text.ok() ? *text : "";
}

// Polls until `path` holds `text` or the process exits or time runs out.
inline bool WaitForText(const std::string& path, const std::string& text, Subprocess& process,
                        milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (FileText(path).find(text) != std::string::npos) return true;
    auto exited = process.TryWait();
    if (!exited.ok() || exited->has_value()) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

// The FUSE mounts whose mount point is below `prefix`.
inline std::vector<std::string> FuseMountsUnder(const std::string& prefix) {
  std::vector<std::string> out;
  for (const std::string& point : fs::FuseMountPoints()) {
    if (point.rfind(prefix, 0) == 0) out.push_back(point);
  }
  return out;
}

// Why FUSE file systems cannot be mounted here ("" when they can): a real
// mount of an empty FUSE connection on a temporary directory.
inline std::string FuseUnavailableReason() {
  int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("cannot open /dev/fuse: ") + std::strerror(errno);
  auto dir = TempDir::Create("/tmp", "syspgo-fuse-probe-");
  if (!dir.ok()) {
    ::close(fd);
    return dir.status().ToString();
  }
  const std::string options = "fd=" + std::to_string(fd) + ",rootmode=40000,user_id=0,group_id=0";
  std::string reason;
  if (::mount("syspgo-probe", dir->path().c_str(), "fuse.syspgo-probe", MS_NOSUID | MS_NODEV,
              options.c_str()) != 0) {
    reason = std::string("this kernel or sandbox refuses FUSE mounts: ") + std::strerror(errno);
  } else {
    ::umount2(dir->path().c_str(), MNT_DETACH);
  }
  ::close(fd);
  return reason;
}

class LazyFsTest : public RuntimeImageTest {
 protected:
  void SetUp() override {
    RuntimeImageTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    AdoptOrphans();
    static const std::string fuse_reason = FuseUnavailableReason();
    if (!fuse_reason.empty()) GTEST_SKIP() << fuse_reason;
  }
  void TearDown() override {
    // A failed test must not leave a mount behind for the next one.
    for (const std::string& m : FuseMountsUnder(dir_.path())) umount2(m.c_str(), MNT_DETACH);
    // Shared mount servers end with their mount (or their last user).
    EXPECT_EQ(ReapAdoptedServers(std::chrono::seconds(10)), 0u) << "a mount server did not end";
    RuntimeImageTest::TearDown();
  }

  struct Ran {
    ExitInfo exit;
    std::string output;
    double seconds = 0;
  };
  // Starts the syspgo binary with `args`, stdout and stderr into `out`.
  Subprocess SpawnSyspgo(std::vector<std::string> args, const std::string& out) {
    args.insert(args.begin(), SYSPGO_BINARY);
    auto fd = UniqueFd::Open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_TRUE(fd.ok());
    if (!fd.ok()) return Subprocess();
    SpawnOptions so;
    so.stdout_fd = fd->get();
    so.stderr_fd = fd->get();
    so.null_stdin = true;
    auto p = Subprocess::Spawn(args, so);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : Subprocess();
  }
  // Runs the syspgo binary to its end (killed after `timeout`).
  Ran Syspgo(std::vector<std::string> args, milliseconds timeout = seconds(120)) {
    const std::string out = JoinPath(dir_.path(), "out-" + std::to_string(++runs_));
    const auto t0 = std::chrono::steady_clock::now();
    Subprocess p = SpawnSyspgo(std::move(args), out);
    Ran r;
    if (!p.running()) return r;
    auto exit = p.WaitFor(timeout);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (exit.ok()) r.exit = *exit;
    r.output = FileText(out);
    return r;
  }
  // Starts `syspgo mount` in the background, its output in *out_path.
  Subprocess SpawnMount(std::vector<std::string> args, std::string* out_path) {
    args.insert(args.begin(), "mount");
    *out_path = JoinPath(dir_.path(), "mount-out-" + std::to_string(++runs_));
    return SpawnSyspgo(std::move(args), *out_path);
  }

  // The sample image with a runtime image built from SampleProfile pushed
  // beside it; merged_ shows the same image through overlayfs.
  std::string PushWithRuntimeImage(const std::string& repo) {
    std::string ref = PushSampleImage(repo);
    AddRuntimeImage(ref, repo);
    return ref;
  }
  // Builds the runtime image of the pushed image `ref` (from SampleProfile)
  // and pushes it beside the image; image_ is the image.
  void AddRuntimeImage(const std::string& ref, const std::string& repo) {
    auto image = Pull(ref);
    EXPECT_TRUE(image.ok()) << image.status().ToString();
    if (!image.ok()) return;
    image_ = *image;
    const std::string out = JoinPath(dir_.path(), "rt-" + repo.substr(repo.rfind('/') + 1));
    auto built = Build(*image, out, {SampleProfile()});
    EXPECT_TRUE(built.ok()) << built.status().ToString();
    oci::Descriptor subject;
    subject.media_type = image->manifest.media_type;
    subject.digest = image->manifest_digest;
    subject.size = image->manifest_size;
    auto client = oci::RegistryClient::Create(registry().address(), opts_.options);
    EXPECT_TRUE(client.ok());
    auto pushed = rtimage::PushRuntimeImage(*client, Repo(ref), subject, out);
    EXPECT_TRUE(pushed.ok()) << pushed.status().ToString();
  }

  nlohmann::json Json(const std::string& path) {
    auto j = nlohmann::json::parse(FileText(path), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << path << ": " << FileText(path);
    return j;
  }

  std::string Root(const std::string& name) { return JoinPath(dir_.path(), name); }
  // `syspgo umount mnt`: the mount daemon then ends cleanly (its output in
  // `out`) and mnt is no FUSE mount. Use with ASSERT_NO_FATAL_FAILURE.
  void UnmountDaemon(const std::string& mnt, Subprocess& daemon, const std::string& out) {
    auto u = Syspgo({"umount", mnt}, seconds(30));
    EXPECT_TRUE(u.exit.success()) << u.output;
    auto exit = daemon.WaitFor(seconds(30));
    ASSERT_TRUE(exit.ok());
    EXPECT_TRUE(exit->success()) << FileText(out);
    EXPECT_FALSE(fs::IsFuseMount(mnt));
  }

  // Makes `artifact` (a runtime image in repository `from`) the runtime
  // image of the image `to_image` in repository `to`: the artifact and its
  // blobs are copied, and `to`'s referrers tag lists it (what an attacker
  // with push rights to `to` can do).
  void AttachRuntimeImage(const std::string& from, const oci::Digest& artifact,
                          const std::string& to, const oci::Digest& to_image) {
    auto manifest = client_->GetManifest(from, artifact.ToString());
    ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
    auto parsed = oci::ParseImageManifest(manifest->body);
    ASSERT_TRUE(parsed.ok());
    std::vector<oci::Descriptor> blobs = parsed->layers;
    blobs.push_back(parsed->config);
    for (const oci::Descriptor& d : blobs) {
      auto bytes = client_->FetchBlobRange(from, d.digest, 0, d.size);
      ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
      ASSERT_TRUE(client_->PushBlob(to, d.digest, *bytes).ok());
    }
    ASSERT_TRUE(
        client_
            ->PushManifest(to, artifact.ToString(), oci::media_type::kOciManifest, manifest->body)
            .ok());
    oci::ImageIndex index;
    index.media_type = std::string(oci::media_type::kOciIndex);
    oci::Descriptor entry;
    entry.media_type = std::string(oci::media_type::kOciManifest);
    entry.digest = artifact;
    entry.size = static_cast<int64_t>(manifest->body.size());
    entry.artifact_type = std::string(rtimage::kArtifactType);
    entry.annotations = parsed->annotations;
    index.manifests.push_back(entry);
    ASSERT_TRUE(client_
                    ->PushManifest(to, oci::ReferrersTag(to_image), oci::media_type::kOciIndex,
                                   oci::SerializeImageIndex(index))
                    .ok());
  }

  // A runtime image like the one in `dir` but for which /data/over holds
  // "bad" instead of "new", consistent in itself (chunk, file digest, blob
  // digest), so that only trust can stop it; pushed as the runtime image
  // of image_ in `repo`. Returns the forged artifact's digest.
  oci::Digest PushForgery(const std::string& repo, const std::string& dir) {
    auto m = rtimage::DecodeMetadata(*ReadFileToString(JoinPath(dir, rtimage::kMetadataFile)));
    EXPECT_TRUE(m.ok());
    if (!m.ok()) return {};
    std::string blob = *ReadFileToString(JoinPath(dir, rtimage::kBlobFile), 1 << 30);
    const int64_t at = m->Find("/data/over");
    EXPECT_GE(at, 0);
    rtimage::FileContent& c = m->contents[m->entries[at].content];
    EXPECT_EQ(c.extents.size(), 1u) << "the profile traced /data/over";
    if (c.extents.size() != 1) return {};
    rtimage::Chunk& chunk = m->chunks[c.extents[0].chunk];
    blob.replace(chunk.blob_offset, 3, "bad");
    chunk.digest = Sha256::Of("bad");
    c.digest = Sha256::Of("bad");
    m->blob_digest = "sha256:" + Sha256::HexOf(blob);
    const std::string forged = JoinPath(dir_.path(), "forged-" + std::to_string(++runs_));
    EXPECT_TRUE(MakeDirs(forged).ok());
    EXPECT_TRUE(WriteFileAtomic(JoinPath(forged, rtimage::kBlobFile), blob, 0600, false).ok());
    EXPECT_TRUE(WriteFileAtomic(JoinPath(forged, rtimage::kIndexFile),
                                *ReadFileToString(JoinPath(dir, rtimage::kIndexFile)), 0600, false)
                    .ok());
    EXPECT_TRUE(WriteFileAtomic(JoinPath(forged, rtimage::kMetadataFile),
                                rtimage::EncodeMetadata(*m), 0600, false)
                    .ok());
    oci::Descriptor subject{
        image_.manifest.media_type, image_.manifest_digest, image_.manifest_size, "", {}, {}};
    auto pushed = rtimage::PushRuntimeImage(*client_, repo, subject, forged);
    EXPECT_TRUE(pushed.ok()) << pushed.status().ToString();
    return pushed.ok() ? pushed->artifact : oci::Digest();
  }

  // Flips the byte at `offset` of a blob on the registry's disk. Use with
  // ASSERT_NO_FATAL_FAILURE.
  void FlipOnDisk(const oci::Digest& blob, int64_t offset) {
    std::fstream f(registry().BlobDataPath(blob), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    char c = 0;
    f.seekg(offset);
    f.get(c);
    f.seekp(offset);
    f.put(static_cast<char>(c ^ 0x5a));
  }

  // Two Ed25519 key pairs made by openssl (KEY and KEY.pub) and a trust
  // policy accepting only runtime images signed by the first, for every
  // repository. Returns the policy's path.
  std::string SignedOnlyPolicy(const std::string& trusted, const std::string& other) {
    for (const std::string& k : {trusted, other}) {
      EXPECT_TRUE(RunCommandOk({"openssl", "genpkey", "-algorithm", "ed25519", "-out", k}).ok());
      EXPECT_TRUE(RunCommandOk({"openssl", "pkey", "-in", k, "-pubout", "-out", k + ".pub"}).ok());
    }
    const std::string policy = Root("policy.json");
    EXPECT_TRUE(WriteFileAtomic(
                    policy,
                    R"({"version": 1, "rules": [{"scope": "*", "accept": "signed", "keys": [")" +
                        trusted + R"(.pub"]}]})",
                    0644, false)
                    .ok());
    return policy;
  }

  // The image_ reference pinned to its manifest digest.
  std::string Pinned(const std::string& ref) {
    auto r = oci::ImageReference::Parse(ref);
    return r->registry + "/" + r->repository + "@" + image_.manifest_digest.ToString();
  }

  oci::LocalImage image_;
  int runs_ = 0;
};

}  // namespace syspgo::testing

#endif  // SYSPGO_TESTS_INTEGRATION_LAZY_FS_FIXTURE_H_
