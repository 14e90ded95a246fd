// SPDX-License-Identifier: Apache-2.0
#include "oci/compression.h"

#include <random>

#include <gtest/gtest.h>

namespace syspgo::oci {
namespace {

std::string Compress(Compression c, const std::string& data) {
  std::string out;
  auto w = NewCompressingWriter(c, [&](std::span<const char> chunk) {
    out.append(chunk.data(), chunk.size());
    return Status::Ok();
  });
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE((*w)->Write({data.data(), data.size()}).ok());
  EXPECT_TRUE((*w)->Finish().ok());
  return out;
}

Result<std::string> Decompress(Compression c, const std::string& data) {
  StringReader src(data);
  ASSIGN_OR_RETURN(std::unique_ptr<ByteReader> r, NewDecompressingReader(c, &src));
  std::string out;
  char buf[7000];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, r->Read(buf));
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

std::string Sample(size_t n) {
  std::mt19937 rng(42);
  std::string s;
  for (size_t i = 0; i < n; ++i) s += static_cast<char>(i % 7 == 0 ? rng() : 'a' + i % 13);
  return s;
}

class CompressionTest : public ::testing::TestWithParam<Compression> {};

TEST_P(CompressionTest, RoundTrips) {
  std::string data = Sample(3 << 20);
  std::string packed = Compress(GetParam(), data);
  EXPECT_EQ(SniffCompression({packed.data(), std::min<size_t>(4, packed.size())}), GetParam());
  auto back = Decompress(GetParam(), packed);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
}

TEST_P(CompressionTest, ConcatenatedStreamsReadAsOne) {
  std::string a = Sample(1000), b = "second part";
  auto back = Decompress(GetParam(), Compress(GetParam(), a) + Compress(GetParam(), b));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, a + b);
}

TEST_P(CompressionTest, TruncationIsAnError) {
  if (GetParam() == Compression::kNone) GTEST_SKIP() << "plain streams have no end marker";
  std::string packed = Compress(GetParam(), Sample(100000));
  auto back = Decompress(GetParam(), packed.substr(0, packed.size() / 2));
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), StatusCode::kCorruption);
}

INSTANTIATE_TEST_SUITE_P(All, CompressionTest,
                         ::testing::Values(Compression::kGzip, Compression::kZstd,
                                           Compression::kNone));

TEST(GzipTest, CorruptDataIsAnError) {
  std::string packed = Compress(Compression::kGzip, Sample(100000));
  packed[packed.size() / 2] ^= 0x55;
  packed[packed.size() / 2 + 1] ^= 0x55;
  auto back = Decompress(Compression::kGzip, packed);
  EXPECT_FALSE(back.ok());
}

TEST(GzipTest, TrailingGarbageIsAnError) {
  std::string packed = Compress(Compression::kGzip, "x") + "garbage";
  EXPECT_FALSE(Decompress(Compression::kGzip, packed).ok());
  // Zero padding after the last member is tolerated.
  EXPECT_TRUE(
      Decompress(Compression::kGzip, Compress(Compression::kGzip, "x") + std::string(100, '\0'))
          .ok());
}

}  // namespace
}  // namespace syspgo::oci
