// SPDX-License-Identifier: Apache-2.0
// Counts from time samples (profile/count_estimate.h) and the machine
// blocks they are pooled by (profile/bb_addr_map.h).
#include "profile/count_estimate.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "profile/bb_addr_map.h"

namespace syspgo::profile {
namespace {

SourceFrame At(const std::string& fn, uint32_t start, uint32_t line) {
  SourceFrame f;
  f.function = fn;
  f.file = "a.c";
  f.start_line = start;
  f.line = line;
  return f;
}

// Two lines that ran equally often, one with four times the code: the same
// count, though one has four times the samples. A call site's targets share
// its count by their samples. The total is 1000 counts per sample.
TEST(EstimateCountsTest, SamplesOverCodeAndCallSitesShareTheirLine) {
  LlvmProfile samples, code;
  samples.AddBody({At("f", 10, 11)}, 400);
  code.AddBody({At("f", 10, 11)}, 40);
  samples.AddBody({At("f", 10, 12)}, 100);
  code.AddBody({At("f", 10, 12)}, 10);
  samples.AddBody({At("f", 10, 13)}, 100);
  code.AddBody({At("f", 10, 13)}, 20);
  samples.AddCall({At("f", 10, 13)}, "g", 3000);
  samples.AddCall({At("f", 10, 13)}, "h", 1000);
  const LlvmProfile out = EstimateCounts(samples, code, {});
  const FunctionSamples& f = out.functions().at("f");
  const uint64_t a = f.body.at({1, 0}), b = f.body.at({2, 0}), c = f.body.at({3, 0});
  EXPECT_EQ(a, b);
  EXPECT_EQ(c * 2, b);
  EXPECT_EQ(a + b + c, 600000u) << "1000 counts per sample";
  EXPECT_EQ(f.calls.at({3, 0}).at("g"), c * 3 / 4);
  EXPECT_EQ(f.calls.at({3, 0}).at("h"), c / 4);
  EXPECT_EQ(out.ToText().find("f:600000:0\n"), 0u) << out.ToText();
}

// A function with fewer samples than the minimum gets no counts; one with
// calls and no sample of its own keeps its call sites (count 1 a target).
TEST(EstimateCountsTest, MinimumEvidenceAndCallersWithoutSamples) {
  LlvmProfile samples, code;
  samples.AddBody({At("hot", 1, 2)}, 500);
  samples.AddBody({At("rare", 1, 2)}, 3);
  samples.AddCall({At("caller", 1, 5)}, "hot", 500);
  EXPECT_EQ(EstimateCounts(samples, code, {.min_samples = 10}).functions().count("rare"), 0u);
  const LlvmProfile all = EstimateCounts(samples, code, {});
  EXPECT_EQ(all.functions().count("rare"), 1u);
  ASSERT_EQ(all.functions().count("caller"), 1u) << all.ToText();
  EXPECT_EQ(all.functions().at("caller").calls.at({4, 0}).at("hot"), 1u);
}

// Shares of places in common: 1 for the same profile at any scale, 0 for
// none in common; inlined places are told apart by where they were inlined.
TEST(AgreementTest, SharesOfPlacesInCommon) {
  LlvmProfile a, b, c, d;
  a.AddBody({At("f", 1, 2)}, 30);
  a.AddBody({At("f", 1, 3)}, 10);
  b.AddBody({At("f", 1, 2)}, 300);
  b.AddBody({At("f", 1, 3)}, 100);
  c.AddBody({At("g", 1, 2)}, 5);
  d.AddBody({At("f", 1, 2)}, 10);
  d.AddBody({At("f", 1, 4)}, 10);
  EXPECT_DOUBLE_EQ(Agreement(a, b), 1.0);
  EXPECT_DOUBLE_EQ(Agreement(a, c), 0.0);
  EXPECT_DOUBLE_EQ(Agreement(a, d), 0.5);
  LlvmProfile e, f;
  e.AddBody({At("g", 1, 2), At("f", 1, 5)}, 10);
  f.AddBody({At("g", 1, 2), At("f", 1, 6)}, 10);
  EXPECT_DOUBLE_EQ(Agreement(e, f), 0.0);
  EXPECT_DOUBLE_EQ(Agreement(a, LlvmProfile()), 0.0);
}

// Encodes blocks as LLVM writes them: (id,) offset from the previous
// block's end, size, metadata; ULEB128 each.
void Uleb(std::vector<uint8_t>* out, uint64_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out->push_back(static_cast<uint8_t>(b | (v ? 0x80 : 0)));
  } while (v);
}
void U64(std::vector<uint8_t>* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}

TEST(BbAddrMapTest, VersionsRangesAndAnalysesAreRead) {
  std::vector<uint8_t> m;
  // Version 2, one range: blocks at 0x1000 (4 bytes) and 0x1006 (300).
  m.push_back(2);
  m.push_back(0);
  U64(&m, 0x1000);
  Uleb(&m, 2);
  for (uint64_t v : {0, 0, 4, 1}) Uleb(&m, v);
  for (uint64_t v : {1, 2, 300, 0}) Uleb(&m, v);
  // Version 2, two ranges (a split function) and an entry count and block
  // frequencies to skip.
  m.push_back(2);
  m.push_back(8 | 1 | 2);
  Uleb(&m, 2);
  U64(&m, 0x3000);
  Uleb(&m, 1);
  for (uint64_t v : {0, 0, 16, 0}) Uleb(&m, v);
  U64(&m, 0x2000);
  Uleb(&m, 1);
  for (uint64_t v : {3, 0, 8, 0}) Uleb(&m, v);
  Uleb(&m, 77);   // entry count
  Uleb(&m, 500);  // two frequencies
  Uleb(&m, 9);
  // Version 1: no block ids.
  m.push_back(1);
  m.push_back(0);
  U64(&m, 0x4000);
  Uleb(&m, 1);
  for (uint64_t v : {0, 2, 0}) Uleb(&m, v);
  auto blocks = ParseBbAddrMap(m);
  ASSERT_TRUE(blocks.ok()) << blocks.status().ToString();
  std::vector<std::pair<uint64_t, uint64_t>> got;
  for (const MachineBlock& b : *blocks) got.emplace_back(b.address, b.size);
  EXPECT_EQ(got, (std::vector<std::pair<uint64_t, uint64_t>>{
                     {0x1000, 4}, {0x1006, 300}, {0x2000, 8}, {0x3000, 16}, {0x4000, 2}}));
  // Every cut short is refused, never read past.
  for (size_t n = 1; n < m.size(); ++n) {
    auto cut = ParseBbAddrMap(std::span<const uint8_t>(m.data(), n));
    // Cuts at a function's boundary are whole maps.
    if (cut.ok()) continue;
    EXPECT_EQ(cut.status().code(), StatusCode::kCorruption) << n;
  }
  EXPECT_FALSE(ParseBbAddrMap(std::vector<uint8_t>{3, 0}).ok()) << "unknown version";
  EXPECT_FALSE(ParseBbAddrMap(std::vector<uint8_t>{2, 0x40}).ok()) << "unknown feature";
  std::vector<uint8_t> wrap = {2, 0};
  U64(&wrap, ~uint64_t{0} - 2);
  Uleb(&wrap, 1);
  for (uint64_t v : {0, 0, 16, 0}) Uleb(&wrap, v);
  EXPECT_FALSE(ParseBbAddrMap(wrap).ok()) << "a block past the address space";
}

}  // namespace
}  // namespace syspgo::profile
