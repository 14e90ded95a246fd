// SPDX-License-Identifier: Apache-2.0
#include "rtimage/layer_index.h"

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <random>

namespace syspgo::rtimage {
namespace {

// Compressible but not trivial: words from a small vocabulary with noise.
std::string SampleData(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  static const char* kWords[] = {"alpha ", "beta ", "gamma\n", "delta ", "epsilon ", "zeta\t"};
  std::string out;
  out.reserve(size);
  while (out.size() < size) {
    if (rng() % 7 == 0) {
      out.push_back(static_cast<char>(rng()));
    } else {
      out += kWords[rng() % 6];
    }
  }
  out.resize(size);
  return out;
}

std::string GzipMember(std::string_view data, int level = 6) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&s, static_cast<uLong>(data.size())) + 64, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::string ZstdFrame(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// Indexes `compressed` and checks it against `plain`.
LayerIndex IndexOf(StreamCompression c, const std::string& compressed, const std::string& plain,
                   uint64_t span) {
  StringReader source(compressed);
  auto reader = IndexingReader::Create(c, &source, span);
  EXPECT_TRUE(reader.ok());
  std::string out;
  std::vector<char> buf(777);  // odd reads, as a tar reader's would be
  for (;;) {
    auto n = (*reader)->Read(buf);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok() || *n == 0) break;
    out.append(buf.data(), *n);
  }
  EXPECT_EQ(out, plain);
  auto index = (*reader)->TakeIndex();
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->compressed_size, compressed.size());
  EXPECT_EQ(index->uncompressed_size, plain.size());
  return *index;
}

void CheckRandomRanges(const LayerIndex& index, const std::string& compressed,
                       const std::string& plain, int count, uint32_t seed) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    uint64_t offset = rng() % plain.size();
    uint64_t length = std::min<uint64_t>(plain.size() - offset, 1 + rng() % (3 << 20));
    if (i == 0) offset = 0, length = 100;
    if (i == 1) offset = plain.size() - 1, length = 1;
    auto plan = PlanRange(index, offset, length);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    ASSERT_LE(plan->compressed_end, compressed.size());
    std::string_view slice =
        std::string_view(compressed)
            .substr(plan->compressed_begin, plan->compressed_end - plan->compressed_begin);
    auto got = ExtractRange(index, *plan, slice, offset, length);
    ASSERT_TRUE(got.ok()) << got.status().ToString() << " at " << offset << "+" << length;
    ASSERT_EQ(*got, plain.substr(offset, length)) << "at " << offset << "+" << length;
  }
}

TEST(LayerIndexTest, GzipCheckpointsGiveEveryRange) {
  std::string plain = SampleData(12 << 20, 1);
  std::string compressed = GzipMember(plain);
  LayerIndex index = IndexOf(StreamCompression::kGzip, compressed, plain, 1 << 20);
  EXPECT_EQ(index.access, LayerAccess::kGzipCheckpoints);
  EXPECT_GE(index.points.size(), 10u);
  for (size_t i = 1; i < index.points.size(); ++i) {
    EXPECT_EQ(index.points[i].window.size(), kWindowSize);
  }
  CheckRandomRanges(index, compressed, plain, 60, 2);
  // A range far from the stream start needs a fraction of the blob.
  auto plan = PlanRange(index, 8 << 20, 4096);
  ASSERT_TRUE(plan.ok());
  EXPECT_LT(plan->compressed_end - plan->compressed_begin, compressed.size() / 4);
}

TEST(LayerIndexTest, MultiMemberGzip) {
  std::string a = SampleData(3 << 20, 3), b = SampleData(5 << 20, 4), c = SampleData(100, 5);
  std::string compressed = GzipMember(a) + GzipMember(b, 1) + GzipMember(c);
  std::string plain = a + b + c;
  LayerIndex index = IndexOf(StreamCompression::kGzip, compressed, plain, 1 << 20);
  CheckRandomRanges(index, compressed, plain, 60, 6);
  // Across the member boundary.
  auto plan = PlanRange(index, a.size() - 5000, 10000);
  ASSERT_TRUE(plan.ok());
  auto got = ExtractRange(
      index, *plan,
      std::string_view(compressed)
          .substr(plan->compressed_begin, plan->compressed_end - plan->compressed_begin),
      a.size() - 5000, 10000);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, plain.substr(a.size() - 5000, 10000));
}

TEST(LayerIndexTest, ZstdFramesAndSingleFrame) {
  std::string plain;
  std::string compressed;
  for (int i = 0; i < 6; ++i) {
    std::string part = SampleData((1 << 20) + i * 1000, 10 + i);
    compressed += ZstdFrame(part);
    plain += part;
  }
  LayerIndex index = IndexOf(StreamCompression::kZstd, compressed, plain, 1 << 20);
  EXPECT_EQ(index.access, LayerAccess::kZstdFrames);
  EXPECT_GE(index.points.size(), 5u);
  CheckRandomRanges(index, compressed, plain, 40, 7);

  std::string one = ZstdFrame(plain);
  LayerIndex whole = IndexOf(StreamCompression::kZstd, one, plain, 1 << 20);
  EXPECT_EQ(whole.access, LayerAccess::kWholeFetch);
  CheckRandomRanges(whole, one, plain, 5, 8);
}

TEST(LayerIndexTest, UncompressedNeedsNoPoints) {
  std::string plain = SampleData(1 << 20, 9);
  LayerIndex index = IndexOf(StreamCompression::kNone, plain, plain, 1 << 16);
  EXPECT_EQ(index.access, LayerAccess::kUncompressed);
  EXPECT_TRUE(index.points.empty());
  CheckRandomRanges(index, plain, plain, 20, 10);
}

TEST(LayerIndexTest, TruncatedOrTrailingStreamsAreErrors) {
  std::string plain = SampleData(2 << 20, 11);
  std::string compressed = GzipMember(plain);
  for (const std::string& bad : {compressed.substr(0, compressed.size() / 2),
                                 compressed + std::string("junk-after-the-end")}) {
    StringReader source(bad);
    auto reader = IndexingReader::Create(StreamCompression::kGzip, &source, 1 << 20);
    ASSERT_TRUE(reader.ok());
    std::vector<char> buf(1 << 16);
    Status failure;
    for (;;) {
      auto n = (*reader)->Read(buf);
      if (!n.ok()) {
        failure = n.status();
        break;
      }
      if (*n == 0) {
        failure = (*reader)->TakeIndex().status();
        break;
      }
    }
    EXPECT_EQ(failure.code(), StatusCode::kCorruption) << failure.ToString();
  }
}

TEST(LayerIndexTest, EncodeDecodeRoundTripAndCorruption) {
  std::string a = SampleData(3 << 20, 12);
  std::string compressed = GzipMember(a) + GzipMember(a);
  std::vector<LayerIndex> layers = {IndexOf(StreamCompression::kGzip, compressed, a + a, 1 << 20),
                                    IndexOf(StreamCompression::kNone, a, a, 1 << 20)};
  std::string encoded = EncodeLayerIndexes(layers);
  auto decoded = DecodeLayerIndexes(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, layers);
  // Every truncation and a flipped byte at many offsets: an error, no crash.
  for (size_t cut = 0; cut < encoded.size(); cut += std::max<size_t>(1, encoded.size() / 300)) {
    EXPECT_FALSE(DecodeLayerIndexes(encoded.substr(0, cut)).ok());
    std::string flipped = encoded;
    flipped[cut] ^= 0x40;
    EXPECT_FALSE(DecodeLayerIndexes(flipped).ok()) << cut;
  }
}

TEST(LayerIndexTest, PlanRejectsRangesOutsideTheLayer) {
  LayerIndex index;
  index.access = LayerAccess::kUncompressed;
  index.compressed_size = index.uncompressed_size = 100;
  EXPECT_FALSE(PlanRange(index, 90, 11).ok());
  EXPECT_FALSE(PlanRange(index, UINT64_MAX, 2).ok());
  EXPECT_TRUE(PlanRange(index, 90, 10).ok());
}

}  // namespace
}  // namespace syspgo::rtimage
