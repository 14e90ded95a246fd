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
#include "oci/compression.h"
#include "profile/artifact.h"
#include "profile/elf_file.h"
#include "profile/pprof_profile.h"
#include "support/gzip_bomb.h"

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
  auto index = oci::ReferrersTagIndex(*client_, "prof/app", image_.manifest_digest);
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

// A profile artifact as an attacker who may push to the repository makes
// it: `files` (name -> bytes) as its layers, beside the image, in its tag
// schema index.
void PushHostileProfile(oci::RegistryClient& client, const std::string& repo,
                        const oci::LocalImage& image,
                        const std::vector<std::pair<std::string, std::string>>& files) {
  oci::ImageManifest m;
  m.media_type = std::string(oci::media_type::kOciManifest);
  m.artifact_type = std::string(profile::kProfileArtifactType);
  m.config.media_type = std::string(oci::media_type::kOciEmpty);
  m.config.digest = oci::Digest::Of("{}");
  m.config.size = 2;
  ASSERT_TRUE(client.PushBlob(repo, m.config.digest, "{}").ok());
  for (const auto& [name, data] : files) {
    oci::Descriptor d;
    d.media_type = name == "profiles.json"       ? std::string(profile::kProfileIndexMediaType)
                   : name.ends_with(".pprof")    ? std::string(profile::kPprofMediaType)
                   : name.ends_with(".llvmprof") ? std::string(profile::kLlvmProfileMediaType)
                                                 : std::string(profile::kFoldedMediaType);
    d.digest = oci::Digest::Of(data);
    d.size = static_cast<int64_t>(data.size());
    d.annotations["org.opencontainers.image.title"] = name;
    ASSERT_TRUE(client.PushBlob(repo, d.digest, data).ok());
    m.layers.push_back(d);
  }
  oci::Descriptor subject;
  subject.media_type = image.manifest.media_type;
  subject.digest = image.manifest_digest;
  subject.size = image.manifest_size;
  m.subject = subject;
  const std::string body = oci::SerializeImageManifest(m);
  auto digest = client.PushManifest(repo, oci::Digest::Of(body).ToString(),
                                    oci::media_type::kOciManifest, body);
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  auto index = oci::ReferrersTagIndex(client, repo, image.manifest_digest);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  oci::Descriptor entry;
  entry.media_type = std::string(oci::media_type::kOciManifest);
  entry.digest = *digest;
  entry.size = static_cast<int64_t>(body.size());
  entry.artifact_type = std::string(profile::kProfileArtifactType);
  index->manifests = {entry};
  index->media_type = std::string(oci::media_type::kOciIndex);
  ASSERT_TRUE(client
                  .PushManifest(repo, oci::ReferrersTag(image.manifest_digest),
                                oci::media_type::kOciIndex, oci::SerializeImageIndex(*index))
                  .status()
                  .ok());
}

// Issue 25's attacks on `profile pull`, through the registry: a build-id
// that climbs out of OUT, a field of the wrong type, and two pprof bombs.
// Each pull fails with a message (no abort), writes nothing outside OUT
// and leaves OUT as it was; the bombs are refused within a bounded peak
// memory (the pull's maximum RSS, measured by its parent).
TEST_F(ProfileArtifactTest, HostileProfileArtifactsAreRefused) {
  const std::string ref = PushSampleImage("prof/hostile");
  auto image = Pull(ref);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  const std::string good_pprof = [] {
    profile::PprofBuilder b(1000000, 0);
    EXPECT_TRUE(b.AddSample({{"/bin/x", "aa", 1, {}}}, 1).ok());
    return *b.Gzipped();
  }();
  struct Attack {
    std::string name;
    std::vector<std::pair<std::string, std::string>> files;
    std::string says;
  };
  const std::string index_one =
      R"({"binaries": [{"path": "/bin/x", "build_id": "aa", "files": ["x-aa.pprof"]}]})";
  std::vector<Attack> attacks = {
      {"traversal",
       {{"profiles.json", R"({"binaries": [{"path": "/bin/x", "build_id": "a/../../victim/pwn",)"
                          R"( "files": ["x.folded"]}]})"},
        {"x.folded", "x;main 1\n"}},
       "not a hex build-id"},
      {"type",
       {{"profiles.json", R"({"binaries": [{"path": "/bin/x", "build_id": 5, "files": []}]})"}},
       "build_id' is not a string"},
      {"null",
       {{"profiles.json", R"({"binaries": [{"path": null, "build_id": "aa", "files": []}]})"}},
       "missing field 'path'"},
      {"samples-bomb",
       {{"profiles.json", index_one},
        {"x-aa.pprof", GzipRepeated(std::string("\x12\x00", 2), 20'000'000)}},
       "more than 1048576 samples"},
      {"zeros-bomb",
       {{"profiles.json", index_one},
        {"x-aa.pprof", GzipRepeated(std::string(65536, '\0'), (size_t{1} << 30) / 65536)}},
       "bytes decoded"},
  };
  for (const Attack& a : attacks) {
    SCOPED_TRACE(a.name);
    ASSERT_NO_FATAL_FAILURE(PushHostileProfile(*client_, "prof/hostile", *image, a.files));
    const std::string base = Root("hostile-" + a.name);
    const std::string out = JoinPath(base, "out");
    ASSERT_TRUE(MakeDirs(JoinPath(out, "x-a")).ok());
    ASSERT_TRUE(MakeDirs(JoinPath(base, "victim")).ok());
    // python3 runs the pull and says its peak memory (ru_maxrss, KiB).
    auto ran = RunCommand(
        {"python3", "-c",
         "import resource, subprocess, sys\n"
         "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
         "sys.stdout.write(p.stdout + p.stderr)\n"
         "print('maxrss_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
         "print('exit', p.returncode)\n",
         SYSPGO_BINARY, "profile", "pull", "--insecure-registry", registry().address(), ref, out});
    ASSERT_TRUE(ran.ok());
    const std::string& text = ran->output;
    EXPECT_NE(text.find(a.says), std::string::npos) << text;
    EXPECT_NE(text.find("\nexit 125\n"), std::string::npos) << "an error, not an abort: " << text;
    const size_t at = text.find("maxrss_kib ");
    ASSERT_NE(at, std::string::npos) << text;
    const long kib = std::stol(text.substr(at + 11));
    std::printf("profile pull, %s: refused; peak RSS %ld KiB\n", a.name.c_str(), kib);
    EXPECT_LT(kib, 256 * 1024) << "the documented bound (docs/profile.md, Limits)";
    auto in_out = ListDir(out);
    ASSERT_TRUE(in_out.ok());
    EXPECT_EQ(*in_out, std::vector<std::string>{"x-a"}) << "OUT is as it was";
    auto in_victim = ListDir(JoinPath(base, "victim"));
    ASSERT_TRUE(in_victim.ok());
    EXPECT_TRUE(in_victim->empty()) << "nothing written outside OUT";
    auto above = ListDir(base);
    ASSERT_TRUE(above.ok());
    EXPECT_EQ(above->size(), 2u) << "nothing beside OUT either";
  }
  // A good artifact after them: pulled and merged.
  ASSERT_NO_FATAL_FAILURE(
      PushHostileProfile(*client_, "prof/hostile", *image,
                         {{"profiles.json", index_one}, {"x-aa.pprof", good_pprof}}));
  auto ok = Syspgo(
      {"profile", "pull", "--insecure-registry", registry().address(), ref, Root("hostile-good")});
  EXPECT_TRUE(ok.exit.success()) << ok.output;
  EXPECT_TRUE(PathExists(JoinPath(Root("hostile-good"), "x-aa.pprof")));
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
