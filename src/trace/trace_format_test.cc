// SPDX-License-Identifier: Apache-2.0
#include "trace/trace_format.h"

#include <gtest/gtest.h>

namespace syspgo::trace {
namespace {

Trace Sample() {
  Trace t;
  t.target = "cmd: python3 -c 'import json'";
  t.ready = "exit (exit code 0)";
  t.duration_ns = 123456789;
  t.loss.unresolved_files = 1;
  TracedFile a;
  a.path = "/usr/bin/python3.11";
  a.layer = "sha256:" + std::string(64, 'a');
  a.dev = 0x800001;
  a.ino = 42;
  a.size = 6 << 20;
  a.flags = kFileExec;
  a.first_access_ns = 1000;
  a.order = 0;
  a.ranges = {
      {AccessKind::kRead, 0, 1}, {AccessKind::kFault, 3, 100}, {AccessKind::kFaultAround, 200, 16}};
  TracedFile b;
  b.path = "/usr/lib/python3.11/json/__init__.py";
  b.order = 1;
  b.ranges = {{AccessKind::kRead, 0, 4}};
  t.files = {a, b};
  return t;
}

TEST(TraceFormatTest, RoundTrips) {
  Trace t = Sample();
  auto back = DecodeTrace(EncodeTrace(t));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, t);
  EXPECT_EQ(back->TotalPages(AccessKind::kFault), 100u);
}

TEST(TraceFormatTest, EveryFlippedByteIsCaught) {
  std::string data = EncodeTrace(Sample());
  for (size_t i = 0; i < data.size(); ++i) {
    std::string bad = data;
    bad[i] ^= 0x01;
    EXPECT_FALSE(DecodeTrace(bad).ok()) << "byte " << i;
  }
}

TEST(TraceFormatTest, EveryTruncationIsCaught) {
  std::string data = EncodeTrace(Sample());
  for (size_t n = 0; n < data.size(); ++n) {
    EXPECT_FALSE(DecodeTrace(data.substr(0, n)).ok()) << "length " << n;
  }
}

TEST(TraceFormatTest, RejectsOtherVersions) {
  std::string data = EncodeTrace(Sample());
  data[8] = 2;  // version, then fix nothing: the CRC catches it first
  EXPECT_FALSE(DecodeTrace(data).ok());
}

TEST(TraceFormatTest, RunsFromBitmaps) {
  uint64_t words[2] = {0, 0};
  words[0] = 0b1110011ULL | (1ULL << 63);
  words[1] = 0b1;  // continues the run that ended at bit 63
  std::vector<PageRange> out;
  AppendRuns(AccessKind::kRead, 512, words, 2, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], (PageRange{AccessKind::kRead, 512, 2}));
  EXPECT_EQ(out[1], (PageRange{AccessKind::kRead, 516, 3}));
  EXPECT_EQ(out[2], (PageRange{AccessKind::kRead, 512 + 63, 2}));
  uint64_t full = ~0ULL;
  out.clear();
  AppendRuns(AccessKind::kFault, 0, &full, 1, &out);
  EXPECT_EQ(out[0], (PageRange{AccessKind::kFault, 0, 64}));
}

TEST(TraceFormatTest, NormalizeMergesPerKind) {
  std::vector<PageRange> r = {{AccessKind::kRead, 10, 5},
                              {AccessKind::kFault, 0, 2},
                              {AccessKind::kRead, 0, 10},
                              {AccessKind::kRead, 12, 10}};
  NormalizeRanges(&r);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], (PageRange{AccessKind::kRead, 0, 22}));
  EXPECT_EQ(r[1], (PageRange{AccessKind::kFault, 0, 2}));
}

}  // namespace
}  // namespace syspgo::trace
