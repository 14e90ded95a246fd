// SPDX-License-Identifier: Apache-2.0
// Profiles as OCI artifacts of an image (`syspgo profile push` / `pull`)
// on the test registry, which has no referrers API (the tag schema): two
// hosts' profiles pushed beside the image's runtime image, pulled merged,
// the runtime image still found; a tampered profile blob refused.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "integration/lazy_fs_fixture.h"
#include "profile/artifact.h"

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
    auto pushed = Syspgo({"profile", "push", "--insecure-registry", registry().address(), ref, dir});
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
  auto refused = Syspgo({"profile", "pull", "--insecure-registry", registry().address(), ref, Root("bad")});
  EXPECT_FALSE(refused.exit.success()) << refused.output;
  EXPECT_NE(refused.output.find("digest"), std::string::npos) << refused.output;
  EXPECT_FALSE(PathExists(JoinPath(Root("bad"), "profiles.json")));
}

TEST_F(ProfileArtifactTest, AnImageWithoutProfilesSaysSo) {
  const std::string ref = PushSampleImage("prof/none");
  auto pulled = Syspgo({"profile", "pull", "--insecure-registry", registry().address(), ref, Root("none")});
  EXPECT_FALSE(pulled.exit.success());
  EXPECT_NE(pulled.output.find("no profiles were pushed"), std::string::npos) << pulled.output;
}

}  // namespace
}  // namespace syspgo::testing
