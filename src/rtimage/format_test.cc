// SPDX-License-Identifier: Apache-2.0
#include "rtimage/format.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/byte_codec.h"
#include "common/file_util.h"
#include "rtimage/chunk_store.h"
#include "rtimage/layer_index.h"

namespace syspgo::rtimage {
namespace {

const std::string kImage = "sha256:" + std::string(64, 'a');
const std::string kLayer = "sha256:" + std::string(64, 'b');

// A small valid runtime image: /, /bin, /bin/sh -> busybox, /bin/busybox
// (two extents), /etc/hosts (a hard link of /etc/hostname), a fifo.
struct Sample {
  Metadata metadata;
  std::string blob;
};

Sample MakeSample() {
  Sample s;
  Metadata& m = s.metadata;
  m.image_digest = kImage;
  m.image_reference = "127.0.0.1:5000/t:1";
  m.sources = {"cmd: sh -c true until exit"};
  m.layers.push_back({kLayer, kLayer, "application/vnd.oci.image.layer.v1.tar", 1 << 20, 1 << 20,
                      LayerAccess::kUncompressed});
  std::string a(4096, 'x'), b(100, 'y');
  s.blob = a + b + std::string(4096 - 100, '\0');
  m.chunks.push_back({Sha256::Of(a), 0, 4096, 4096});
  m.chunks.push_back({Sha256::Of(b), 4096, 100, 100});
  m.blob_size = s.blob.size();
  m.blob_digest = "sha256:" + Sha256::HexOf(s.blob);
  m.index_digest = "sha256:" + std::string(64, 'c');
  FileContent busybox;
  busybox.size = 8192 + 100;
  busybox.tar_offset = 512;
  busybox.extents = {{0, 4096, 0}, {8192, 100, 1}};
  FileContent hostname;
  hostname.size = 9;
  hostname.tar_offset = 20000;
  m.contents = {busybox, hostname};
  auto entry = [](std::string path, EntryType type) {
    Entry e;
    e.path = std::move(path);
    e.type = type;
    e.mode = 0755;
    return e;
  };
  m.entries.push_back(entry("/", EntryType::kDirectory));
  m.entries.push_back(entry("/bin", EntryType::kDirectory));
  Entry bb = entry("/bin/busybox", EntryType::kRegular);
  bb.content = 0;
  bb.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)}};
  m.entries.push_back(bb);
  Entry sh = entry("/bin/sh", EntryType::kSymlink);
  sh.symlink_target = "busybox";
  m.entries.push_back(sh);
  m.entries.push_back(entry("/etc", EntryType::kDirectory));
  Entry hn = entry("/etc/hostname", EntryType::kRegular);
  hn.content = 1;
  m.entries.push_back(hn);
  hn.path = "/etc/hosts";
  m.entries.push_back(hn);
  m.entries.push_back(entry("/etc/pipe", EntryType::kFifo));
  return s;
}

TEST(FormatTest, RoundTrip) {
  Sample s = MakeSample();
  std::string encoded = EncodeMetadata(s.metadata);
  auto decoded = DecodeMetadata(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, s.metadata);
  EXPECT_EQ(decoded->Find("/etc/hosts"), 6);
  EXPECT_EQ(decoded->Find("/etc/nope"), -1);
  EXPECT_EQ(decoded->ExtentBytes(), 4196u);
}

TEST(FormatTest, EveryTruncationAndFlipIsAnError) {
  std::string encoded = EncodeMetadata(MakeSample().metadata);
  for (size_t i = 0; i < encoded.size(); ++i) {
    EXPECT_FALSE(DecodeMetadata(encoded.substr(0, i)).ok()) << i;
    std::string flipped = encoded;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(DecodeMetadata(flipped).ok()) << i;
  }
}

// Structurally wrong metadata with a valid checksum.
TEST(FormatTest, CrossReferencesAreChecked) {
  auto expect_bad = [](auto mutate, std::string_view what) {
    Sample s = MakeSample();
    mutate(s.metadata);
    auto decoded = DecodeMetadata(EncodeMetadata(s.metadata));
    EXPECT_FALSE(decoded.ok()) << what;
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption) << what;
    }
  };
  expect_bad([](Metadata& m) { std::swap(m.entries[1], m.entries[2]); }, "unsorted");
  expect_bad([](Metadata& m) { m.entries[3].path = "/bin/../x"; }, "dot-dot");
  expect_bad([](Metadata& m) { m.entries[4].type = EntryType::kFifo; }, "parent not dir");
  expect_bad([](Metadata& m) { m.entries[2].content = 7; }, "content out of range");
  expect_bad([](Metadata& m) { m.contents[0].extents[1].file_offset = 8193; }, "extent past end");
  expect_bad([](Metadata& m) { m.contents[0].extents[1].chunk = 0; }, "chunk length differs");
  expect_bad([](Metadata& m) { m.chunks[1].blob_offset = 4000; }, "overlapping chunks");
  expect_bad([](Metadata& m) { m.chunks[1].stored = 101; }, "stored larger than the bytes");
  expect_bad([](Metadata& m) { m.chunks[1].stored = 0; }, "nothing stored");
  expect_bad([](Metadata& m) { m.blob_size = 4096; }, "chunk outside blob");
  expect_bad([](Metadata& m) { m.contents[1].tar_offset = (1 << 20) - 2; }, "outside layer");
  expect_bad([](Metadata& m) { m.entries[3].symlink_target.clear(); }, "empty symlink");
  expect_bad([](Metadata& m) { m.image_digest = "sha256:xyz"; }, "bad digest");
  expect_bad([](Metadata& m) { m.entries.pop_back(), m.entries.erase(m.entries.begin() + 2); },
             "content without entry");
}

// Files larger than a piece carry one digest per piece, exactly as many as
// the size needs.
TEST(FormatTest, PieceDigestsRoundTripAndAreCounted) {
  Sample s = MakeSample();
  Metadata& m = s.metadata;
  m.piece_size = 64 << 10;
  m.contents[0].size = 200000;  // 4 pieces of 64 KiB, the last one short
  m.contents[0].pieces.assign(4, Sha256::Of("piece"));
  auto decoded = DecodeMetadata(EncodeMetadata(m));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, m);
  EXPECT_EQ(decoded->PieceCount(decoded->contents[0]), 4u);
  EXPECT_EQ(decoded->PieceCount(decoded->contents[1]), 1u) << "a small file is one piece";
  EXPECT_EQ(decoded->PieceDigest(decoded->contents[1], 0), decoded->contents[1].digest);
  m.contents[0].pieces.pop_back();
  EXPECT_EQ(DecodeMetadata(EncodeMetadata(m)).status().code(), StatusCode::kCorruption);
  m.contents[0].pieces.clear();
  EXPECT_EQ(DecodeMetadata(EncodeMetadata(m)).status().code(), StatusCode::kCorruption)
      << "a large file without piece digests could not be checked in parts";
  m.contents[0].size = 100;
  m.contents[1].pieces = {Sha256::Of("x")};
  EXPECT_EQ(DecodeMetadata(EncodeMetadata(m)).status().code(), StatusCode::kCorruption)
      << "a small file has its whole-file digest only";
  for (uint32_t bad : {0u, 4096u, 100000u, 128u << 20}) {
    Sample t = MakeSample();
    t.metadata.piece_size = bad;
    EXPECT_FALSE(DecodeMetadata(EncodeMetadata(t.metadata)).ok()) << bad;
  }
}

// Version 1 had no piece digests: such metadata is refused with a hint.
TEST(FormatTest, OlderVersionIsRefusedWithAHint) {
  std::string encoded = EncodeMetadata(MakeSample().metadata);
  encoded[8] = 1;  // the u32 version after the 8-byte magic
  encoded.resize(encoded.size() - 4);
  const uint32_t crc = Crc32(encoded);
  for (int i = 0; i < 4; ++i) encoded.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  auto decoded = DecodeMetadata(encoded);
  EXPECT_EQ(decoded.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(decoded.status().message().find("rebuild"), std::string::npos)
      << decoded.status().message();
}

// Version 2 (chunks whole and page-aligned) is still read; its chunks are
// stored as they are.
TEST(FormatTest, Version2IsStillRead) {
  Sample s = MakeSample();
  const std::string v2 = EncodeMetadata(s.metadata, 2);
  EXPECT_EQ(v2[8], 2);
  EXPECT_EQ(v2.size() + 2 * 4, EncodeMetadata(s.metadata).size()) << "no stored sizes";
  auto decoded = DecodeMetadata(v2);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, s.metadata);
  EXPECT_FALSE(decoded->chunks[1].compressed());
  // Packed chunks are version 3 only.
  s.metadata.chunks[1].blob_offset = 4097;
  EXPECT_TRUE(DecodeMetadata(EncodeMetadata(s.metadata)).ok());
  EXPECT_EQ(DecodeMetadata(EncodeMetadata(s.metadata, 2)).status().code(), StatusCode::kCorruption);
}

// What the builder stores: a zstd frame where it saves an eighth, else the
// bytes. DecodeChunk gives back exactly the bytes or fails.
TEST(FormatTest, ChunksCompressOnlyWhereItHelpsAndDecodeExactly) {
  std::string text;
  for (int i = 0; text.size() < 100000; ++i)
    text += "line " + std::to_string(i % 97) + " of the file\n";
  std::string noise(50000, '\0');
  uint32_t x = 1;
  for (char& c : noise) c = static_cast<char>((x = x * 1103515245 + 12345) >> 24);
  auto chunk_of = [](const std::string& data, const std::string& stored) {
    return Chunk{Sha256::Of(data), 0, static_cast<uint32_t>(data.size()),
                 static_cast<uint32_t>(stored.size())};
  };
  const std::string packed = EncodeChunk(text, 9);
  EXPECT_LT(packed.size(), text.size() / 4);
  EXPECT_EQ(EncodeChunk(noise, 9), noise) << "random bytes stay as they are";
  const Chunk c = chunk_of(text, packed);
  EXPECT_TRUE(c.compressed());
  auto back = DecodeChunk(c, 3, packed);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, text);
  auto raw = DecodeChunk(chunk_of(noise, noise), 4, noise);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, noise);

  // Tampered: a flipped byte in the frame, a valid frame of other bytes of
  // the same length, a frame of more bytes than the chunk has, and stored
  // bytes of another size. Each is corruption and names the chunk.
  std::string flipped = packed;
  flipped[packed.size() / 2] ^= 0x20;
  std::string other_text = text;
  other_text[500] = '#';
  const std::string other = EncodeChunk(other_text, 9);
  std::string longer_text = text + "one more line\n";
  const std::string longer = EncodeChunk(longer_text, 9);
  for (const std::string& bad : {flipped, other, longer, packed.substr(1)}) {
    Chunk claimed = c;
    claimed.stored = static_cast<uint32_t>(bad.size());
    auto got = DecodeChunk(claimed, 3, bad);
    EXPECT_EQ(got.status().code(), StatusCode::kCorruption);
    EXPECT_NE(got.status().message().find("chunk 3"), std::string::npos) << got.status().message();
  }
  EXPECT_EQ(DecodeChunk(c, 3, packed + "x").status().code(), StatusCode::kCorruption)
      << "size differs from stored";
}

class RuntimeImageDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp", "syspgo-rtimage-test-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    sample_ = MakeSample();
    std::string index =
        EncodeLayerIndexes({LayerIndex{LayerAccess::kUncompressed, 1 << 20, 1 << 20, {}}});
    sample_.metadata.index_digest = "sha256:" + Sha256::HexOf(index);
    Write(kIndexFile, index);
    Write(kMetadataFile, EncodeMetadata(sample_.metadata));
    Write(kBlobFile, sample_.blob);
  }
  void Write(std::string_view name, const std::string& data) {
    ASSERT_TRUE(WriteFileAtomic(JoinPath(dir_.path(), name), data, 0644, false).ok());
  }
  TempDir dir_;
  Sample sample_;
};

TEST_F(RuntimeImageDirTest, ReadsVerifiedRanges) {
  auto image = RuntimeImageDir::Open(dir_.path());
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ASSERT_TRUE(image->VerifyBlob().ok());
  const FileContent& busybox = image->metadata().contents[0];
  auto head = image->ReadFileRange(busybox, 10, 20);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(*head, std::string(20, 'x'));
  auto tail = image->ReadFileRange(busybox, 8192, 100);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, std::string(100, 'y'));
  auto gap = image->ReadFileRange(busybox, 4000, 200);
  EXPECT_EQ(gap.status().code(), StatusCode::kNotFound);
}

TEST_F(RuntimeImageDirTest, TamperedChunkIsRefused) {
  std::string blob = sample_.blob;
  blob[4096 + 5] = 'z';
  Write(kBlobFile, blob);
  auto image = RuntimeImageDir::Open(dir_.path());
  ASSERT_TRUE(image.ok());
  auto chunk = image->ReadChunk(1);
  EXPECT_EQ(chunk.status().code(), StatusCode::kCorruption);
  EXPECT_NE(chunk.status().message().find("chunk 1"), std::string::npos);
  EXPECT_NE(chunk.status().message().find("failed verification"), std::string::npos);
  EXPECT_TRUE(image->ReadChunk(0).ok());
  EXPECT_FALSE(image->VerifyBlob().ok());
}

// A version 3 blob with a compressed chunk: reads decompress and verify;
// a tampered frame is refused for that chunk and for the whole blob.
TEST_F(RuntimeImageDirTest, CompressedChunksAreReadAndATamperedOneIsRefused) {
  std::string a(4096, 'x'), b(100, 'y');
  const std::string packed = EncodeChunk(a, 9);
  ASSERT_LT(packed.size(), a.size());
  Metadata& m = sample_.metadata;
  m.chunks[0].stored = static_cast<uint32_t>(packed.size());
  m.chunks[1].blob_offset = packed.size();
  std::string blob = packed + b;
  m.blob_size = blob.size();
  m.blob_digest = "sha256:" + Sha256::HexOf(blob);
  Write(kMetadataFile, EncodeMetadata(m));
  Write(kBlobFile, blob);
  auto image = RuntimeImageDir::Open(dir_.path());
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ASSERT_TRUE(image->VerifyBlob().ok());
  auto head = image->ReadFileRange(image->metadata().contents[0], 10, 20);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(*head, std::string(20, 'x'));
  blob[packed.size() / 2] ^= 0x04;
  Write(kBlobFile, blob);
  image = RuntimeImageDir::Open(dir_.path());
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->ReadChunk(0).status().code(), StatusCode::kCorruption);
  EXPECT_TRUE(image->ReadChunk(1).ok());
  EXPECT_FALSE(image->VerifyBlob().ok());
}

TEST_F(RuntimeImageDirTest, TruncatedBlobIsRefused) {
  Write(kBlobFile, sample_.blob.substr(0, 5000));
  auto image = RuntimeImageDir::Open(dir_.path());
  EXPECT_EQ(image.status().code(), StatusCode::kCorruption);
  EXPECT_NE(image.status().message().find("truncated"), std::string::npos)
      << image.status().ToString();
}

TEST_F(RuntimeImageDirTest, IndexMustMatchTheMetadata) {
  Write(kIndexFile, EncodeLayerIndexes({}));
  auto image = RuntimeImageDir::Open(dir_.path());
  EXPECT_EQ(image.status().code(), StatusCode::kCorruption);
}

TEST_F(RuntimeImageDirTest, ChunkStoreVerifies) {
  auto store = ChunkStore::Open(JoinPath(dir_.path(), "chunks"));
  ASSERT_TRUE(store.ok());
  const Chunk& c = sample_.metadata.chunks[1];
  std::string data(100, 'y');
  EXPECT_FALSE(store->Has(c.digest));
  EXPECT_EQ(store->Put(c.digest, "not it").code(), StatusCode::kCorruption);
  ASSERT_TRUE(store->Put(c.digest, data).ok());
  EXPECT_TRUE(store->Has(c.digest));
  auto got = store->Get(c);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, data);
  // A chunk damaged on disk is reported and dropped.
  ASSERT_TRUE(WriteFileAtomic(store->PathOf(c.digest), std::string(100, 'q'), 0644, false).ok());
  EXPECT_EQ(store->Get(c).status().code(), StatusCode::kCorruption);
  EXPECT_FALSE(store->Has(c.digest));
}

}  // namespace
}  // namespace syspgo::rtimage
