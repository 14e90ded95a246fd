// SPDX-License-Identifier: Apache-2.0
// A profile directory's index, profiles.json, as a pulled profile artifact
// carries it (anyone who may push next to an image writes it). What
// parses must hold only names that stay in the directory, and must
// re-encode to an index that parses to the same thing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "profile/profile_dir.h"

using namespace syspgo::profile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto index = ParseProfileIndex(input);
  if (!index.ok()) return 0;
  if (!index->all.empty() && !IsProfileFileName(index->all)) __builtin_trap();
  for (const ProfileBinary& b : index->binaries) {
    for (const std::string& f : b.files) {
      if (!IsProfileFileName(f) || !syspgo::IsPlainFileName(f)) __builtin_trap();
    }
    if (!b.build_id.empty() && !IsBuildId(b.build_id)) __builtin_trap();
    // What a merge names its files: plain names too.
    const std::string stem =
        b.build_id.empty() ? FileStem(b.path) : ProfileStem(b.path, b.build_id);
    if (!IsProfileFileName(stem + ".pprof")) __builtin_trap();
  }
  const std::string again = SerializeProfileIndex(*index);
  auto reparsed = ParseProfileIndex(again);
  if (!reparsed.ok() || SerializeProfileIndex(*reparsed) != again) __builtin_trap();
  return 0;
}

std::vector<std::string> BuiltInSeeds() {
  ProfileIndex index;
  index.frequency_hz = 99;
  index.seconds = 10;
  index.samples = 5;
  index.all = "all.folded";
  index.flamegraph = "all.svg";
  index.binaries.push_back({"/usr/bin/app",
                            "3f2a",
                            {},
                            5,
                            true,
                            {"app-3f2a.llvmprof", "app-3f2a.pprof", "app-3f2a.folded"}});
  index.binaries.push_back({"/lib/libc.so.6", "", {"aa", "bb"}, 0, false, {"libc.so.6.pprof"}});
  return {
      SerializeProfileIndex(index),
      // Issue 25's crash (a number where a string belongs) and traversal.
      R"({"binaries": [{"path": "/bin/app", "build_id": 5, "files": []}]})",
      R"({"binaries": [{"path": "/bin/x", "build_id": "a/../../victim/pwn", "files": ["x.folded"]}]})",
      R"({"binaries": [{"path": null, "build_id": "aa", "files": [null]}], "all": 7})",
  };
}
