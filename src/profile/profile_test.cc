// SPDX-License-Identifier: Apache-2.0
// The profiler's pieces that need no BPF: /proc/PID/maps parsing, ELF
// build-ids, offsets and symbols (on this test binary itself), and putting
// back a frameless leaf's caller.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

#include "common/file_util.h"
#include "profile/elf_file.h"
#include "profile/flamegraph.h"
#include "profile/llvm_profile.h"
#include "profile/merge.h"
#include "profile/pprof_profile.h"
#include "profile/symbolizer.h"
#include "profile/profile_writer.h"
#include "profile/recorder.h"

extern "C" __attribute__((noinline, used)) int syspgo_profile_test_marker(int x) {
  return x * 3 + 1;
}

// An inlined function in an out-of-line one: the symbolizer's inline chain.
constexpr uint32_t kInlinedStart = __LINE__ + 1;
static inline __attribute__((always_inline)) int syspgo_inlined_square(volatile int* x) {
  return *x * *x;
}
constexpr uint32_t kInlinedLine = kInlinedStart + 1;
constexpr uint32_t kCallerStart = __LINE__ + 1;
extern "C" __attribute__((noinline, used)) int syspgo_inlining_caller(int x) {
  volatile int v = x;
  int r = syspgo_inlined_square(&v);
  return r + 1;
}
constexpr uint32_t kCallLine = kCallerStart + 2;

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
// The file this process maps at `addr`: its path, the file loaded, and
// the link-time address of addr.
struct Mapped {
  std::string path;
  std::optional<ElfFile> elf;
  uint64_t vaddr = 0;
};
Mapped MappedAt(uint64_t addr) {
  Mapped out;
  auto text = ReadFileToString("/proc/self/maps");
  if (!text.ok()) return out;
  for (const Mapping& m : ParseMaps(*text)) {
    if (addr < m.start || addr >= m.end) continue;
    auto elf = ElfFile::Load(m.path);
    if (!elf.ok()) return out;
    auto vaddr = elf->AddressOfOffset(addr - m.start + m.offset);
    if (!vaddr) return out;
    out.path = m.path;
    out.vaddr = *vaddr;
    out.elf = std::move(*elf);
  }
  return out;
}

TEST(ElfFileTest, AnAddressOfThisProcessIsNamed) {
  Mapped mapped = MappedAt(reinterpret_cast<uint64_t>(&syspgo_profile_test_marker));
  ASSERT_TRUE(mapped.elf.has_value());
  const ElfFile* elf = &*mapped.elf;
  EXPECT_EQ(elf->build_id().size(), 40u) << "a GNU build-id (sha1)";
  EXPECT_GT(elf->symbol_count(), 100u);
  const ElfSymbol* sym = elf->FunctionAt(mapped.vaddr + 2);
  ASSERT_NE(sym, nullptr);
  EXPECT_EQ(sym->name, "syspgo_profile_test_marker");
  EXPECT_EQ(syspgo_profile_test_marker(1), 4);
  auto id = ReadBuildId(mapped.path);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, elf->build_id());
  EXPECT_FALSE(ElfFile::Load("/proc/self/status").ok());
}

// This test binary (built with -g) by address: the inlined function's
// chain, each frame with its start line (DW_AT_decl_line) and the line in
// it, the call site in the caller.
TEST(SymbolizerTest, InlineChainsOfThisBinary) {
  Mapped mapped = MappedAt(reinterpret_cast<uint64_t>(&syspgo_inlining_caller));
  ASSERT_TRUE(mapped.elf.has_value());
  const ElfFile* elf = &*mapped.elf;
  const ElfSymbol* sym = elf->FunctionAt(mapped.vaddr);
  ASSERT_NE(sym, nullptr);
  Symbolizer symbolizer;
  // Some instruction of the caller executes the inlined multiply.
  bool inlined = false;
  for (uint64_t a = sym->address; a < sym->address + sym->size; ++a) {
    const InlineChain& chain = symbolizer.Symbolize(*elf, a);
    ASSERT_FALSE(chain.empty());
    EXPECT_EQ(chain.back().function, "syspgo_inlining_caller");
    EXPECT_EQ(chain.back().start_line, kCallerStart);
    if (chain.size() == 2) {
      inlined = true;
      // The linkage name where the compiler gives one (clang does for
      // internal C++ functions, gcc does not).
      EXPECT_NE(chain[0].function.find("syspgo_inlined_square"), std::string::npos)
          << chain[0].function;
      EXPECT_EQ(chain[0].start_line, kInlinedStart);
      EXPECT_EQ(chain[0].line, kInlinedLine);
      EXPECT_NE(chain[0].file.find("profile_test.cc"), std::string::npos) << chain[0].file;
      EXPECT_EQ(chain[1].line, kCallLine) << "the call site";
    }
  }
  EXPECT_TRUE(inlined) << "no address of the caller symbolized to the inlined function";
  EXPECT_TRUE(symbolizer.HasDwarf(elf->build_id()));
  EXPECT_EQ(syspgo_inlining_caller(3), 10);
}

SourceFrame Src(const std::string& fn, uint32_t start, uint32_t line, uint32_t disc = 0) {
  SourceFrame f;
  f.function = fn;
  f.start_line = start;
  f.line = line;
  f.discriminator = disc;
  return f;
}

TEST(LlvmProfileTest, LineOffsetsInliningCallsAndTheTextFormat) {
  LlvmProfile p;
  p.AddBody({Src("main", 10, 13)}, 100);
  // Discriminator 2 in LLVM's prefix encoding is base discriminator 1.
  p.AddBody({Src("main", 10, 14, 2)}, 50);
  // foo inlined into main at line 15: foo's line 21 (start 20).
  p.AddBody({Src("foo", 20, 21), Src("main", 10, 15)}, 30);
  p.AddCall({Src("main", 10, 16)}, "bar", 40);
  p.AddBody({Src("bar", 30, 31)}, 40);
  p.AddHead("bar", 40);
  const std::string text = p.ToText();
  EXPECT_EQ(text,
            "main:220:0\n"
            " 3: 100\n"
            " 4.1: 50\n"
            " 6: 40 bar:40\n"
            " 5: foo:30\n"
            "  1: 30\n"
            "bar:40:40\n"
            " 1: 40\n")
      << text;
  auto parsed = ParseLlvmText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->ToText(), text);
  ASSERT_TRUE(parsed->Merge(p).ok());
  EXPECT_EQ(parsed->total(), 520u);
  EXPECT_NE(parsed->ToText().find(" 5: foo:60\n  1: 60\n"), std::string::npos) << parsed->ToText();
  // A line before the start wraps as LLVM's 16-bit offsets do; chains
  // without lines are left out.
  LlvmProfile q;
  q.AddBody({Src("f", 10, 9)}, 1);
  q.AddBody({Src("g", 0, 5)}, 1);
  EXPECT_EQ(q.ToText(), "f:1:0\n 65535: 1\n");
  EXPECT_FALSE(ParseLlvmText("main:1:0\n   3: 1\n").ok()) << "deeper than its function";
  EXPECT_FALSE(ParseLlvmText(" 3: 1\n").ok()) << "a record before any function";
  EXPECT_FALSE(ParseLlvmText("main:x:0\n").ok());
}

TEST(LlvmBaseDiscriminatorTest, PrefixEncoding) {
  EXPECT_EQ(LlvmBaseDiscriminator(0), 0u);
  EXPECT_EQ(LlvmBaseDiscriminator(1), 0u);  // low bit set: no base discriminator
  EXPECT_EQ(LlvmBaseDiscriminator(2), 1u);
  EXPECT_EQ(LlvmBaseDiscriminator(6), 3u);
  // Base 5, duplication factor 2 (next component) still gives 5.
  EXPECT_EQ(LlvmBaseDiscriminator(10 | (4 << 7)), 5u);
}

TEST(PprofBuilderTest, StacksAddUpAndSurviveARoundTrip) {
  PprofBuilder b(10101010, 1000000000);
  PprofFrame leaf{"/bin/app", "abcd", 0x1234, {{"main.mix", "/src/main.go", 30, 32}}};
  PprofFrame inl{"/bin/app",
                 "abcd",
                 0x2000,
                 {{"main.add", "/src/main.go", 40, 41}, {"main.work", "/src/main.go", 20, 25}}};
  PprofFrame root{"/bin/app", "abcd", 0x3000, {{"main.main", "/src/main.go", 10, 12}}};
  ASSERT_TRUE(b.AddSample({leaf, inl, root}, 3).ok());
  ASSERT_TRUE(b.AddSample({leaf, inl, root}, 2).ok());
  ASSERT_TRUE(b.AddSample({inl, root}, 1).ok());
  EXPECT_EQ(b.samples(), 6u);
  auto gz = b.Gzipped();
  ASSERT_TRUE(gz.ok());
  ASSERT_GT(gz->size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f) << "gzipped";
  PprofBuilder merged(10101010, 0);
  ASSERT_TRUE(merged.AddProfile(*gz).ok());
  ASSERT_TRUE(merged.AddProfile(*gz).ok());
  EXPECT_EQ(merged.samples(), 12u);
  EXPECT_FALSE(merged.AddProfile("not a profile").ok());
}

// Two recordings of two builds of "app": merged by build-id they stay two
// profiles, merged by name they are one, every count added up; an index
// that names no binaries is refused.
TEST(MergeTest, ByBuildIdAndByName) {
  auto tmp = TempDir::Create("/tmp", "syspgo-merge-");
  ASSERT_TRUE(tmp.ok());
  auto write_run = [&](const std::string& dir, const std::string& id, uint64_t n) {
    ASSERT_TRUE(MakeDirs(dir).ok());
    const std::string stem = "app-" + id;
    LlvmProfile llvm;
    llvm.AddBody({Src("main", 10, 12)}, n);
    PprofBuilder pprof(1000000, 1000000000);
    ASSERT_TRUE(
        pprof.AddSample({PprofFrame{"/bin/app", id, 0x10, {{"main", "app.c", 10, 12}}}}, n).ok());
    ASSERT_TRUE(
        WriteFileAtomic(JoinPath(dir, stem + ".llvmprof"), llvm.ToText(), 0644, false).ok());
    ASSERT_TRUE(
        WriteFileAtomic(JoinPath(dir, stem + ".pprof"), *pprof.Gzipped(), 0644, false).ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, stem + ".folded"),
                                "app;main " + std::to_string(n) + "\n", 0644, false)
                    .ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "all.folded"), "app;main " + std::to_string(n) + "\n",
                                0644, false)
                    .ok());
    const std::string index =
        R"({"frequency_hz": 1000, "seconds": 1, "all": "all.folded", "binaries": [)"
        R"({"path": "/bin/app", "build_id": ")" +
        id + R"(", "samples": )" + std::to_string(n) + R"(, "dwarf": true, "files": [")" + stem +
        R"(.llvmprof", ")" + stem + R"(.pprof", ")" + stem + R"(.folded"]}]})";
    ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "profiles.json"), index, 0644, false).ok());
  };
  const std::string a = JoinPath(tmp->path(), "a"), b = JoinPath(tmp->path(), "b"),
                    c = JoinPath(tmp->path(), "c");
  ASSERT_NO_FATAL_FAILURE(write_run(a, "1111", 5));
  ASSERT_NO_FATAL_FAILURE(write_run(b, "1111", 7));
  ASSERT_NO_FATAL_FAILURE(write_run(c, "2222", 11));
  const std::string by_id = JoinPath(tmp->path(), "by-id");
  auto merged = MergeProfiles({a, b, c}, by_id);
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ(merged->inputs, 3);
  EXPECT_EQ(merged->profiles, 2);
  EXPECT_EQ(merged->samples, 23u);
  EXPECT_EQ(*ReadFileToString(JoinPath(by_id, "app-1111.llvmprof")), "main:12:0\n 2: 12\n");
  EXPECT_EQ(*ReadFileToString(JoinPath(by_id, "app-1111.folded")), "app;main 12\n");
  EXPECT_EQ(*ReadFileToString(JoinPath(by_id, "all.folded")), "app;main 23\n");
  PprofBuilder check(1000000, 0);
  ASSERT_TRUE(check.AddProfile(*ReadFileToString(JoinPath(by_id, "app-1111.pprof"))).ok());
  EXPECT_EQ(check.samples(), 12u);
  const std::string by_name = JoinPath(tmp->path(), "by-name");
  merged = MergeProfiles({a, b, c}, by_name, MergeOptions{.by_name = true});
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  EXPECT_EQ(merged->profiles, 1);
  EXPECT_EQ(*ReadFileToString(JoinPath(by_name, "app.llvmprof")), "main:23:0\n 2: 23\n");
  ASSERT_TRUE(
      WriteFileAtomic(JoinPath(c, "profiles.json"), R"({"binaries": 3})", 0644, false).ok());
  EXPECT_FALSE(MergeProfiles({a, c}, by_id).ok());
  EXPECT_FALSE(MergeProfiles({}, by_id).ok());
}

TEST(FlameGraphTest, BoxesWidthsAndEscapes) {
  const std::string svg = FlameGraphSvg({{"app;main;work<int>", 30}, {"app;main;idle", 10}}, "t");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<title>work&lt;int&gt; (30 samples, 75.00%)</title>"), std::string::npos)
      << svg;
  EXPECT_NE(svg.find("<title>main (40 samples, 100.00%)</title>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("<title>idle (10 samples, 25.00%)</title>"), std::string::npos) << svg;
  EXPECT_EQ(svg.find("work<int>"), std::string::npos) << "names are escaped";
  EXPECT_NE(svg.find("(40 samples)</text>"), std::string::npos);
  // The whole width (1200 px less 10 px each side) is the total.
  EXPECT_NE(svg.find("width=\"1180.0\""), std::string::npos) << svg;
  EXPECT_NE(svg.find("width=\"885.0\""), std::string::npos) << "work: 75% of 1180";
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
