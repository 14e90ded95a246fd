// SPDX-License-Identifier: Apache-2.0
// pprof profiles as a pulled profile artifact carries them (gzipped or
// not), read within limits made small here so that a mutated gzip bomb
// costs little. What is read must survive a write and a read back with the
// same sample count.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "profile/pprof_profile.h"

using namespace syspgo::profile;

namespace {

PprofLimits Small() {
  PprofLimits l;
  l.decoded_bytes = 1 << 20;
  l.samples = l.locations = l.functions = l.strings = 1 << 14;
  l.lines = l.frames = 1 << 16;
  l.merged_stacks = l.merged_locations = l.merged_functions = 1 << 14;
  l.merged_frames = 1 << 16;
  l.merged_string_bytes = 1 << 20;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  PprofBuilder b(1000000, 0, Small());
  if (!b.AddProfile(input).ok()) return 0;
  auto gz = b.Gzipped();
  if (!gz.ok()) __builtin_trap();
  PprofBuilder again(1000000, 0, Small());
  if (!again.AddProfile(*gz).ok() || again.samples() != b.samples()) __builtin_trap();
  return 0;
}

std::vector<std::string> BuiltInSeeds() {
  PprofBuilder b(10101010, 1000000000);
  PprofFrame leaf{"/bin/app", "abcd", 0x1234, {{"main.mix", "/src/main.go", 30, 32}}};
  PprofFrame inl{"/bin/app",
                 "abcd",
                 0x2000,
                 {{"main.add", "/src/main.go", 40, 41}, {"main.work", "/src/main.go", 20, 25}}};
  PprofFrame root{"/bin/app", "abcd", 0x3000, {{"main.main", "/src/main.go", 10, 12}}};
  (void)b.AddSample({leaf, inl, root}, 3);
  (void)b.AddSample({inl, root}, 1);
  std::vector<std::string> seeds;
  auto gz = b.Gzipped();
  if (gz.ok()) seeds.push_back(*gz);
  // The same, not gzipped: sample_type {1, 2}, strings, a sample at
  // location 1 (mapping 1, one line of function 1).
  seeds.push_back(std::string("\x0a\x04\x08\x01\x10\x02", 6) + std::string("\x32\x00", 2) +
                  "\x32\x07samples" + "\x32\x05count" + "\x32\x04main" +
                  std::string("\x1a\x04\x08\x01\x28\x04", 6) +
                  std::string("\x2a\x06\x08\x01\x10\x03\x20\x03", 8) +
                  std::string("\x22\x0a\x08\x01\x10\x01\x18\x10\x22\x02\x08\x01", 12) +
                  std::string("\x12\x04\x08\x01\x10\x05", 6));
  return seeds;
}
