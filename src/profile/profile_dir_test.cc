// SPDX-License-Identifier: Apache-2.0
// Profile directories and artifacts as an attacker writes them (issue 25):
// an index whose names would write outside the output directory, fields
// of the wrong type, symlinks in and out, pprof and LLVM profiles that
// decode to far more than they weigh. Each is refused with a Status and
// leaves nothing behind.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>

#include "common/file_util.h"
#include "oci/compression.h"
#include "profile/llvm_profile.h"
#include "profile/merge.h"
#include "profile/pprof_profile.h"
#include "profile/profile_dir.h"
#include "support/gzip_bomb.h"

namespace syspgo::profile {
namespace {

using syspgo::testing::GzipRepeated;

class ProfileDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = TempDir::Create("/tmp", "syspgo-profdir-");
    ASSERT_TRUE(t.ok());
    tmp_ = std::move(*t);
  }
  std::string Path(const std::string& name) { return JoinPath(tmp_.path(), name); }
  // A profile directory with `index` as its profiles.json and `files`.
  std::string Dir(const std::string& name, const std::string& index,
                  const std::map<std::string, std::string>& files = {}) {
    const std::string dir = Path(name);
    EXPECT_TRUE(MakeDirs(dir).ok());
    EXPECT_TRUE(WriteFileAtomic(JoinPath(dir, "profiles.json"), index, 0644, false).ok());
    for (const auto& [f, text] : files) {
      EXPECT_TRUE(WriteFileAtomic(JoinPath(dir, f), text, 0644, false).ok());
    }
    return dir;
  }
  // A good one-binary directory (build-id 1111).
  std::string GoodDir(const std::string& name, uint64_t n = 5) {
    PprofBuilder pprof(1000000, 0);
    EXPECT_TRUE(
        pprof.AddSample({PprofFrame{"/bin/app", "1111", 0x10, {{"main", "a.c", 1, 2}}}}, n).ok());
    return Dir(name,
               R"({"frequency_hz": 1000, "all": "all.folded", "binaries": [{"path": "/bin/app",)"
               R"( "build_id": "1111", "samples": 5, "files": ["app-1111.pprof",)"
               R"( "app-1111.folded"]}]})",
               {{"all.folded", "app;main 5\n"},
                {"app-1111.pprof", *pprof.Gzipped()},
                {"app-1111.folded", "app;main 5\n"}});
  }
  std::vector<std::string> Entries(const std::string& dir) {
    auto list = ListDir(dir);
    if (!list.ok()) return {};
    std::sort(list->begin(), list->end());
    return *list;
  }
  TempDir tmp_;
};

TEST_F(ProfileDirTest, IndexRoundTrip) {
  ProfileIndex index;
  index.frequency_hz = 99;
  index.seconds = 1.5;
  index.samples = 7;
  index.all = "all.folded";
  index.binaries.push_back({"/usr/bin/app", "ab12", {}, 7, true, {"app-ab12.pprof"}});
  index.binaries.push_back(
      {"/usr/lib/libx.so", "", {"cd34", "ef56"}, 0, false, {"libx.so.folded"}});
  auto parsed = ParseProfileIndex(SerializeProfileIndex(index));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->frequency_hz, 99);
  EXPECT_EQ(parsed->all, "all.folded");
  ASSERT_EQ(parsed->binaries.size(), 2u);
  EXPECT_EQ(parsed->binaries[0].build_id, "ab12");
  EXPECT_TRUE(parsed->binaries[0].dwarf);
  EXPECT_EQ(parsed->binaries[1].build_ids, (std::vector<std::string>{"cd34", "ef56"}));
}

// Wrong types and hostile names: a Status each, never an exception.
TEST_F(ProfileDirTest, IndexFieldsAreChecked) {
  const char* bad[] = {
      R"({"binaries": [{"path": "/bin/app", "build_id": 5, "files": []}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": null, "files": []}]})",
      R"({"binaries": [{"path": 5, "build_id": "1111", "files": []}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": [5]}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": "a.pprof"}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": [], "samples": "9"}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": [], "samples": -1}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": [], "dwarf": 1}]})",
      R"({"binaries": [{"path": "/bin/app", "build_ids": [1], "files": []}]})",
      R"({"binaries": [{"path": "/bin/app", "files": []}]})",
      R"({"binaries": [5]})",
      R"({"binaries": {}})",
      R"({"binaries": [], "all": 5})",
      R"({"binaries": [], "frequency_hz": "99"})",
      R"({"binaries": [], "seconds": "1"})",
      R"([])",
      R"(not json)",
      // Names.
      R"({"binaries": [{"path": "/bin/app", "build_id": "a/../../victim/pwn", "files": []}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "ABCD", "files": []}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "abc", "files": []}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": ["../x.pprof"]}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": [".x.pprof"]}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": ["x.sh"]}]})",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": ["profiles.json"]}]})",
      R"({"binaries": [], "all": "../all.folded"})",
      R"({"binaries": [], "all": "all.pprof"})",
  };
  for (const char* text : bad) {
    auto parsed = ParseProfileIndex(text);
    EXPECT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kCorruption) << text;
  }
}

TEST_F(ProfileDirTest, NamesAndStems) {
  EXPECT_TRUE(IsBuildId("0123456789abcdef"));
  EXPECT_FALSE(IsBuildId(""));
  EXPECT_FALSE(IsBuildId(std::string(130, 'a')));
  EXPECT_EQ(FileStem("/usr/bin/python3.11"), "python3.11");
  EXPECT_EQ(FileStem("/usr/lib/libstdc++.so.6"), "libstdc++.so.6");
  EXPECT_EQ(FileStem("/x/my prog\n"), "my_prog_");
  EXPECT_EQ(FileStem("/x/.."), "_.");
  EXPECT_EQ(FileStem("/"), "bin");
  EXPECT_EQ(FileStem(""), "bin");
  EXPECT_EQ(ProfileStem("/bin/app", "ab"), "app-ab");
  EXPECT_TRUE(IsProfileFileName("app-ab.llvmprof"));
  EXPECT_FALSE(IsProfileFileName(".llvmprof"));
  EXPECT_FALSE(IsProfileFileName("a b.folded"));
}

// The attack of issue 25: a build-id that climbs out of OUT, with OUT
// holding a directory named like its first component. Nothing is written
// outside OUT; OUT is as it was.
TEST_F(ProfileDirTest, TraversalWritesNothingOutside) {
  ASSERT_TRUE(MakeDirs(Path("victim")).ok());
  ASSERT_TRUE(MakeDirs(Path("out/x-a")).ok());
  const std::string in = Dir(
      "in",
      R"({"binaries": [{"path": "/bin/x", "build_id": "a/../../victim/pwn", "files": ["x.folded"]}]})",
      {{"x.folded", "x;main 1\n"}});
  auto merged = MergeProfiles({in}, Path("out"));
  EXPECT_FALSE(merged.ok());
  EXPECT_EQ(merged.status().code(), StatusCode::kCorruption) << merged.status().ToString();
  EXPECT_TRUE(Entries(Path("victim")).empty());
  EXPECT_EQ(Entries(Path("out")), (std::vector<std::string>{"x-a"}));
}

// Malformed input of every kind: an error, and OUT is not made (or keeps
// only what it held).
TEST_F(ProfileDirTest, FailedMergeLeavesNothing) {
  const std::string good = GoodDir("good");
  const std::string bad_json =
      Dir("bad-json", R"({"binaries": [{"path": "/bin/app", "build_id": 5, "files": []}]})");
  const std::string bad_pprof = Dir(
      "bad-pprof",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": ["app-1111.pprof"]}]})",
      {{"app-1111.pprof", std::string("\x1f\x8b\x08\x00garbage", 12)}});
  const std::string missing = Dir(
      "missing",
      R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": ["app-1111.pprof"]}]})");
  const std::string bad_llvm =
      Dir("bad-llvm",
          R"({"binaries": [{"path": "/bin/app", "build_id": "1111", "files": ["app.llvmprof"]}]})",
          {{"app.llvmprof", "main:1:0\n   3: 1\n"}});
  ASSERT_TRUE(MakeDirs(Path("kept")).ok());
  ASSERT_TRUE(WriteFileAtomic(Path("kept/mine"), "x", 0644, false).ok());
  for (const std::string& bad : {bad_json, bad_pprof, missing, bad_llvm}) {
    auto merged = MergeProfiles({good, bad}, Path("new-out"));
    EXPECT_FALSE(merged.ok()) << bad;
    EXPECT_FALSE(PathExists(Path("new-out"))) << bad;
    merged = MergeProfiles({good, bad}, Path("kept"));
    EXPECT_FALSE(merged.ok()) << bad;
    EXPECT_EQ(Entries(Path("kept")), (std::vector<std::string>{"mine"})) << bad;
  }
  auto merged = MergeProfiles({good, good}, Path("kept"));
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ(Entries(Path("kept")),
            (std::vector<std::string>{"all.folded", "all.svg", "app-1111.folded", "app-1111.pprof",
                                      "mine", "profiles.json"}));
  EXPECT_EQ(*ReadFileToString(Path("kept/app-1111.folded")), "app;main 10\n");
}

// Symlinks: an input's file that is one is not read; one in OUT where a
// profile goes is replaced, not written through.
TEST_F(ProfileDirTest, SymlinksAreNotFollowed) {
  ASSERT_TRUE(WriteFileAtomic(Path("secret"), "app;main 999\n", 0600, false).ok());
  const std::string in = GoodDir("in");
  ASSERT_EQ(::unlink(JoinPath(in, "app-1111.folded").c_str()), 0);
  ASSERT_EQ(::symlink(Path("secret").c_str(), JoinPath(in, "app-1111.folded").c_str()), 0);
  EXPECT_FALSE(MergeProfiles({in}, Path("out1")).ok());

  const std::string good = GoodDir("good");
  ASSERT_TRUE(WriteFileAtomic(Path("victim"), "untouched", 0644, false).ok());
  ASSERT_TRUE(MakeDirs(Path("out2")).ok());
  ASSERT_EQ(::symlink(Path("victim").c_str(), Path("out2/app-1111.folded").c_str()), 0);
  ASSERT_TRUE(MergeProfiles({good}, Path("out2")).ok());
  EXPECT_EQ(*ReadFileToString(Path("victim")), "untouched");
  struct stat st;
  ASSERT_EQ(::lstat(Path("out2/app-1111.folded").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

// Issue 25's bombs: 20 million empty samples (40 KB of gzip), and zeros
// past the decoded limit (the attack had 1 GiB; tests/integration/
// profile_artifact_test.cc pulls that one and measures the memory). Both
// are refused on the way in.
TEST_F(ProfileDirTest, PprofBombsAreRefused) {
  const std::string samples = GzipRepeated(std::string("\x12\x00", 2), 20'000'000);
  EXPECT_LT(samples.size(), 200'000u);
  PprofBuilder b(1000000, 0);
  Status st = b.AddProfile(samples);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  EXPECT_NE(st.message().find("samples"), std::string::npos) << st.ToString();
  const std::string zeros = GzipRepeated(std::string(4096, '\0'), (size_t{128} << 20) / 4096);
  st = b.AddProfile(zeros);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  EXPECT_NE(st.message().find("decoded"), std::string::npos) << st.ToString();
  // Strings, locations, lines: each has its limit.
  PprofLimits small;
  small.strings = 10;
  small.locations = 10;
  PprofBuilder limited(1000000, 0, small);
  st = limited.AddProfile(GzipRepeated(std::string("\x32\x01x", 3), 11));
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  st = limited.AddProfile(GzipRepeated(std::string("\x22\x02\x08\x01", 4), 11));
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
}

// What a merge holds is bounded too, however many profiles come in.
TEST_F(ProfileDirTest, PprofMergedLimits) {
  PprofLimits small;
  small.merged_stacks = 2;
  PprofBuilder b(1000000, 0, small);
  auto frame = [](uint64_t a) { return PprofFrame{"/bin/app", "11", a, {}}; };
  EXPECT_TRUE(b.AddSample({frame(1)}, 1).ok());
  EXPECT_TRUE(b.AddSample({frame(2)}, 1).ok());
  EXPECT_TRUE(b.AddSample({frame(1)}, 1).ok()) << "a stack it has adds up";
  EXPECT_EQ(b.AddSample({frame(3)}, 1).code(), StatusCode::kResourceExhausted);
}

// A real profile cut anywhere or with a byte changed: a Status, no crash;
// and a sample naming a location it lacks, or a string past the table.
TEST_F(ProfileDirTest, PprofMalformed) {
  PprofBuilder good(1000000, 0);
  PprofFrame f{"/bin/app", "ab", 0x10, {{"main", "a.c", 1, 2}}};
  ASSERT_TRUE(good.AddSample({f, f}, 3).ok());
  std::string raw;
  {
    auto gz = good.Gzipped();
    ASSERT_TRUE(gz.ok());
    StringReader source(*gz);
    auto reader = oci::NewDecompressingReader(oci::Compression::kGzip, &source);
    ASSERT_TRUE(reader.ok());
    char buf[4096];
    for (;;) {
      auto n = (*reader)->Read(buf);
      ASSERT_TRUE(n.ok());
      if (*n == 0) break;
      raw.append(buf, *n);
    }
  }
  for (size_t cut = 0; cut < raw.size(); ++cut) {
    PprofBuilder b(1000000, 0);
    b.AddProfile(raw.substr(0, cut)).IgnoreError();
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = raw;
      flipped[cut] = static_cast<char>(flipped[cut] ^ (1 << bit));
      PprofBuilder c(1000000, 0);
      c.AddProfile(flipped).IgnoreError();
    }
  }
  PprofBuilder whole(1000000, 0);
  EXPECT_TRUE(whole.AddProfile(raw).ok());
  EXPECT_EQ(whole.samples(), 3u);
  // sample_type {type: 1, unit: 2}, strings "", "samples", "count", a
  // sample at location 7 (there is none), value 1.
  const std::string no_location = std::string("\x0a\x04\x08\x01\x10\x02", 6) +
                                  std::string("\x32\x00", 2) + "\x32\x07samples" + "\x32\x05count" +
                                  std::string("\x12\x04\x08\x07\x10\x01", 6);
  PprofBuilder b(1000000, 0);
  Status st = b.AddProfile(no_location);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  const std::string bad_string =
      std::string("\x0a\x04\x08\x01\x10\x09", 6) + std::string("\x32\x00", 2) + "\x32\x07samples";
  st = b.AddProfile(bad_string);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
}

TEST_F(ProfileDirTest, LlvmLimits) {
  std::string deep = "main:1:0\n";
  for (size_t d = 1; d <= kMaxLlvmDepth + 1; ++d) {
    deep += std::string(d, ' ') + "1: f" + std::to_string(d) + ":1\n";
  }
  auto parsed = ParseLlvmText(deep);
  EXPECT_EQ(parsed.status().code(), StatusCode::kCorruption) << parsed.status().ToString();
  EXPECT_NE(parsed.status().message().find("levels deep"), std::string::npos);
  std::string many = "main:1:0\n";
  many.reserve(kMaxLlvmRecords * 12);
  for (size_t i = 0; i <= kMaxLlvmRecords; ++i) many += " " + std::to_string(i) + ": 1\n";
  parsed = ParseLlvmText(many);
  EXPECT_EQ(parsed.status().code(), StatusCode::kResourceExhausted) << parsed.status().ToString();
  // Counts that would wrap stay at the top.
  parsed = ParseLlvmText("main:1:0\n 1: 18446744073709551615\n 1: 5\n 99999999999: 1\n");
  EXPECT_EQ(parsed.status().code(), StatusCode::kCorruption) << "an offset past 32 bits";
  parsed = ParseLlvmText("main:1:0\n 1: 18446744073709551615\n 1: 5\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->functions().at("main").body.at({1, 0}), UINT64_MAX);
}

}  // namespace
}  // namespace syspgo::profile
