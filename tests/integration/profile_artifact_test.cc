// SPDX-License-Identifier: Apache-2.0
// Profiles as OCI artifacts of an image (`syspgo profile push` / `pull`)
// on the test registry, which has no referrers API (the tag schema): two
// hosts' profiles pushed beside the image's runtime image, pulled merged,
// the runtime image still found; a tampered profile blob refused. And
// `profile record --image`: the containers of an image on this node.
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "integration/lazy_fs_fixture.h"
#include "profile/artifact.h"
#include "profile/elf_file.h"

namespace syspgo::testing {
namespace {

class ProfileArtifactTest : public LazyFsTest {
 protected:
  // A profile directory recorded from a busy shell loop; its sample count.
  uint64_t RecordInto(const std::string& dir) {
    auto r = Syspgo({"profile", "record", "--freq", "499", "-o", dir, "--", "sh", "-c",
                     "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"});
    EXPECT_TRUE(r.exit.success()) << r.output;
    return Json(JoinPath(dir, "profiles.json")).value("samples", uint64_t{0});
  }
  uint64_t BinarySamples(const std::string& dir) {
    uint64_t n = 0;
    const nlohmann::json index = Json(JoinPath(dir, "profiles.json"));
    for (const auto& b : index["binaries"]) n += b.value("samples", uint64_t{0});
    return n;
  }
};

TEST_F(ProfileArtifactTest, TwoHostsPushedAndPulledMerged) {
  if (::geteuid() != 0) GTEST_SKIP() << "profiling needs root";
  const std::string ref = PushWithRuntimeImage("prof/app");
  ASSERT_FALSE(HasFailure());
  const std::string a = Root("host-a"), b = Root("host-b");
  RecordInto(a);
  RecordInto(b);
  const uint64_t want = BinarySamples(a) + BinarySamples(b);
  ASSERT_GT(want, 100u) << FileText(JoinPath(a, "profiles.json"));
  for (const std::string& dir : {a, b}) {
    auto pushed =
        Syspgo({"profile", "push", "--insecure-registry", registry().address(), ref, dir});
    ASSERT_TRUE(pushed.exit.success()) << pushed.output;
  }
  const std::string out = Root("pulled");
  auto pulled = Syspgo({"profile", "pull", "--insecure-registry", registry().address(), ref, out});
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  EXPECT_NE(pulled.output.find("pulled 2 profile artifacts"), std::string::npos) << pulled.output;
  EXPECT_EQ(BinarySamples(out), want);
  EXPECT_EQ(Json(JoinPath(out, "profiles.json"))["merged_from"], 2);
  // The runtime image is still the image's (the tag schema index kept it).
  auto found = rtimage::FindRuntimeImage(*client_, "prof/app", image_.manifest_digest);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_TRUE(found->has_value());

  // A byte of a pushed profile changed on the registry's disk: refused.
  auto index = rtimage::FallbackIndex(*client_, "prof/app", image_.manifest_digest);
  ASSERT_TRUE(index.ok());
  std::optional<oci::Digest> artifact;
  for (const auto& d : index->manifests) {
    if (d.artifact_type == profile::kProfileArtifactType) artifact = d.digest;
  }
  ASSERT_TRUE(artifact.has_value());
  auto manifest = client_->GetManifest("prof/app", artifact->ToString());
  ASSERT_TRUE(manifest.ok());
  auto parsed = oci::ParseImageManifest(manifest->body);
  ASSERT_TRUE(parsed.ok());
  ASSERT_FALSE(parsed->layers.empty());
  const oci::Descriptor& victim = parsed->layers.back();
  ASSERT_NO_FATAL_FAILURE(FlipOnDisk(victim.digest, victim.size / 2));
  auto refused =
      Syspgo({"profile", "pull", "--insecure-registry", registry().address(), ref, Root("bad")});
  EXPECT_FALSE(refused.exit.success()) << refused.output;
  EXPECT_NE(refused.output.find("digest"), std::string::npos) << refused.output;
  EXPECT_FALSE(PathExists(JoinPath(Root("bad"), "profiles.json")));
}

// `profile record --image`: the container of the image that `syspgo run`
// started (from its runtime image, on the node's shared mount) is found
// and profiled, its binary named by its path in the image and build-id; a
// process outside it is not.
TEST_F(ProfileArtifactTest, RecordTheContainersOfAnImage) {
  if (::geteuid() != 0) GTEST_SKIP() << "profiling needs root";
  const std::string ref = PushWithRuntimeImage("prof/run");
  ASSERT_FALSE(HasFailure());
  std::string out_path = Root("run.out");
  Subprocess run = SpawnSyspgo(
      {"run", "--root", Root("store"), "--insecure-registry", registry().address(), ref, "--", "sh",
       "-c", "echo started; i=0; while [ $i -lt 4000000 ]; do i=$((i+1)); done"},
      out_path);
  ASSERT_TRUE(WaitForText(out_path, "started", run, seconds(60))) << FileText(out_path);
  // A busy process outside the container.
  auto outside =
      Subprocess::Spawn({"sh", "-c", "i=0; while [ $i -lt 4000000 ]; do i=$((i+1)); done"});
  ASSERT_TRUE(outside.ok());
  const std::string prof = Root("image-prof");
  auto r = Syspgo({"profile", "record", "--image", ref, "--insecure-registry", registry().address(),
                   "--duration", "2", "--freq", "199", "-o", prof});
  (void)outside->Signal(SIGKILL);
  (void)outside->Wait();
  (void)run.Signal(SIGTERM);
  (void)run.WaitFor(seconds(30));
  ASSERT_TRUE(r.exit.success()) << r.output;
  const nlohmann::json index = Json(JoinPath(prof, "profiles.json"));
  auto busybox =
      profile::ReadBuildId(JoinPath(IntegrationEnv::Get().busybox_rootfs(), "bin/busybox"));
  ASSERT_TRUE(busybox.ok()) << busybox.status().ToString();
  bool found = false;
  for (const auto& b : index["binaries"]) {
    EXPECT_NE(b["path"], "/usr/bin/dash")
        << "a process outside the container was sampled: " << index.dump(2);
    if (b["path"] == "/bin/busybox") {
      found = true;
      EXPECT_EQ(b["build_id"], *busybox);
      EXPECT_GT(b["samples"].get<int64_t>(), 50);
    }
  }
  EXPECT_TRUE(found) << index.dump(2);
}

TEST_F(ProfileArtifactTest, AnImageWithoutProfilesSaysSo) {
  const std::string ref = PushSampleImage("prof/none");
  auto pulled =
      Syspgo({"profile", "pull", "--insecure-registry", registry().address(), ref, Root("none")});
  EXPECT_FALSE(pulled.exit.success());
  EXPECT_NE(pulled.output.find("no profiles were pushed"), std::string::npos) << pulled.output;
}

}  // namespace
}  // namespace syspgo::testing
