// SPDX-License-Identifier: Apache-2.0
// The profiler's pieces that need no BPF: /proc/PID/maps parsing, ELF
// build-ids, offsets and symbols (on this test binary itself), and putting
// back a frameless leaf's caller.
#include <gtest/gtest.h>

#include <cstdint>

#include "common/file_util.h"
#include "profile/elf_file.h"
#include "profile/profile_writer.h"
#include "profile/recorder.h"

extern "C" __attribute__((noinline, used)) int syspgo_profile_test_marker(int x) { return x * 3 + 1; }

namespace syspgo::profile {
namespace {

TEST(ParseMapsTest, ExecutableFileMappingsOnly) {
  const char* text =
      "55d0c0000000-55d0c0001000 r--p 00000000 08:01 1234  /usr/bin/app\n"
      "55d0c0001000-55d0c0005000 r-xp 00001000 08:01 1234  /usr/bin/app\n"
      "7f0000000000-7f0000100000 r-xp 00028000 08:01 99    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
      "7f0000200000-7f0000201000 r-xp 00000000 00:00 0     [vdso]\n"
      "7f0000300000-7f0000301000 rw-p 00000000 00:00 0 \n"
      "7f0000400000-7f0000401000 r-xp 00000000 08:01 77    /tmp/gone (deleted)\n"
      "garbage line\n";
  auto maps = ParseMaps(text);
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[0].path, "/usr/bin/app");
  EXPECT_EQ(maps[0].start, 0x55d0c0001000u);
  EXPECT_EQ(maps[0].offset, 0x1000u);
  EXPECT_EQ(maps[1].path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(maps[1].offset, 0x28000u);
  EXPECT_EQ(maps[2].path, "/tmp/gone");
}

// The whole way from an address in this process to a function name: the
// mapping, the file offset, the ELF segment, the symbol.
TEST(ElfFileTest, AnAddressOfThisProcessIsNamed) {
  auto text = ReadFileToString("/proc/self/maps");
  ASSERT_TRUE(text.ok());
  const uint64_t addr = reinterpret_cast<uint64_t>(&syspgo_profile_test_marker);
  const Mapping* found = nullptr;
  auto maps = ParseMaps(*text);
  for (const Mapping& m : maps) {
    if (addr >= m.start && addr < m.end) found = &m;
  }
  ASSERT_NE(found, nullptr);
  auto elf = ElfFile::Load(found->path);
  ASSERT_TRUE(elf.ok()) << elf.status().ToString();
  EXPECT_EQ(elf->build_id().size(), 40u) << "a GNU build-id (sha1)";
  EXPECT_GT(elf->symbol_count(), 100u);
  auto vaddr = elf->AddressOfOffset(addr - found->start + found->offset);
  ASSERT_TRUE(vaddr.has_value());
  const ElfSymbol* sym = elf->FunctionAt(*vaddr + 2);
  ASSERT_NE(sym, nullptr);
  EXPECT_EQ(sym->name, "syspgo_profile_test_marker");
  EXPECT_EQ(syspgo_profile_test_marker(1), 4);
  auto id = ReadBuildId(found->path);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, elf->build_id());
  EXPECT_FALSE(ElfFile::Load("/proc/self/status").ok());
}

Frame F(const std::string& fn) {
  Frame f;
  f.path = fn;  // the test's names are the paths
  return f;
}

TEST(LeafCallerTest, PutBackOnlyWhenLost) {
  auto name = [](const Frame& f) { return f.path; };
  Sample s;
  s.frames = {F("leaf"), F("main")};  // the walk skipped the leaf's caller
  s.sp_frame = F("caller");
  auto frames = FramesWithLeafCaller(s, name);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1].path, "caller");
  // A leaf with a frame: the walk has its caller already.
  s.frames = {F("leaf"), F("caller"), F("main")};
  EXPECT_EQ(FramesWithLeafCaller(s, name).size(), 3u);
  // The word is the leaf itself (recursion): nothing to add.
  s.frames = {F("leaf"), F("main")};
  s.sp_frame = F("leaf");
  EXPECT_EQ(FramesWithLeafCaller(s, name).size(), 2u);
  // No word kept (no call before it), or a kernel leaf.
  s.sp_frame.reset();
  EXPECT_EQ(FramesWithLeafCaller(s, name).size(), 2u);
  s.sp_frame = F("caller");
  s.frames[0].kernel = true;
  EXPECT_EQ(FramesWithLeafCaller(s, name).size(), 2u);
}

}  // namespace
}  // namespace syspgo::profile
