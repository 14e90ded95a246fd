// SPDX-License-Identifier: Apache-2.0
// File: rtimage/format.h
//
// The runtime image (docs/runtime-image.md): the memory state of a
// container's root file system at readiness. Three files:
//   metadata  the whole merged root file system (entries keyed by path),
//             per regular file its size, content digest, place in the
//             original layers and extents in the blob; the layer table;
//             the chunk table. Magic "SPGORTM\n", version, CRC-32.
//   index     random access into the original layers (layer_index.h).
//   blob      the traced data, chunks in first-access order, each
//             identical chunk stored once, zstd-compressed where it helps.
// Keys are paths and content digests, never inode numbers. Decoding checks
// every bound and every cross-reference; chunk data is verified against its
// sha256 before it is handed out. No dependency on FUSE, BPF or the network.
#ifndef SYSPGO_RTIMAGE_FORMAT_H_
#define SYSPGO_RTIMAGE_FORMAT_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/sha256.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace syspgo::rtimage {

// Version 2 added piece digests (FileContent::pieces); version 3 chunks
// stored compressed (Chunk::stored), packed without page alignment.
// Version 2 is still read.
inline constexpr uint32_t kMetadataVersion = 3;
inline constexpr uint32_t kOldestMetadataVersion = 2;
inline constexpr uint32_t kNoContent = 0xffffffffu;
// Largest chunk: extents are cut on a grid of this many file bytes, so equal
// file data in two images yields equal chunks.
inline constexpr uint32_t kDefaultChunkSpan = 256 << 10;
inline constexpr uint32_t kMaxChunkSpan = 16 << 20;
// zstd level for chunks: the build is done once (in CI), decompression
// speed hardly depends on the level (bench/README.md: the choice).
inline constexpr int kDefaultChunkCompressionLevel = 9;
// Files are verified in pieces of this many bytes (the last one shorter),
// each with its own sha256, so that a read of any part of a large file is
// checked without fetching the whole file.
inline constexpr uint32_t kDefaultPieceSize = 256 << 10;  // see docs/lazy-rootfs.md
inline constexpr uint32_t kMinPieceSize = 64 << 10;
inline constexpr uint32_t kMaxPieceSize = 64 << 20;

// File names inside a runtime image directory.
inline constexpr std::string_view kMetadataFile = "metadata";
inline constexpr std::string_view kIndexFile = "index";
inline constexpr std::string_view kBlobFile = "blob";

using Sha256Bytes = Sha256::Bytes;
std::string DigestString(const Sha256Bytes& d);  // "sha256:<hex>"

enum class EntryType : uint8_t {
  kDirectory = 0,
  kRegular = 1,
  kSymlink = 2,
  kCharDevice = 3,
  kBlockDevice = 4,
  kFifo = 5,
};
std::string_view EntryTypeName(EntryType type);

struct Xattr {
  std::string name;
  std::string value;
  bool operator==(const Xattr&) const = default;
};

struct Entry {
  std::string path;  // absolute and clean: "/", "/usr", "/usr/bin/python3"
  EntryType type = EntryType::kDirectory;
  uint32_t mode = 0;  // permission bits with setuid/setgid/sticky; no type
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  std::string symlink_target;
  // Regular files: index into Metadata::contents. Hard links share one.
  uint32_t content = kNoContent;
  std::vector<Xattr> xattrs;
  bool operator==(const Entry&) const = default;
};

// File bytes [file_offset, file_offset + length) are chunk `chunk`.
struct Extent {
  uint64_t file_offset = 0;
  uint32_t length = 0;
  uint32_t chunk = 0;
  bool operator==(const Extent&) const = default;
};

struct FileContent {
  uint64_t size = 0;
  Sha256Bytes digest{};  // of the whole file
  // sha256 of bytes [i * piece_size, (i + 1) * piece_size) of the file, for
  // files larger than Metadata::piece_size; empty otherwise (the file is
  // one piece, checked by `digest`).
  std::vector<Sha256Bytes> pieces;
  uint32_t layer = 0;           // index into Metadata::layers
  uint64_t tar_offset = 0;      // first data byte in the uncompressed layer
  std::vector<Extent> extents;  // sorted, disjoint, inside [0, size)
  bool operator==(const FileContent&) const = default;
};

// A chunk's bytes are `length` file bytes, whose sha256 is `digest`. In the
// blob they take `stored` bytes at blob_offset: the bytes themselves when
// stored == length, else one zstd frame that decompresses to them (kept only
// when smaller). The digest is always over the uncompressed bytes, so the
// chunk store, deduplication and verification do not depend on how a chunk
// travelled.
struct Chunk {
  Sha256Bytes digest{};
  uint64_t blob_offset = 0;
  uint32_t length = 0;
  uint32_t stored = 0;  // bytes in the blob: <= length
  bool compressed() const { return stored != length; }
  bool operator==(const Chunk&) const = default;
};

// How a byte range of a layer's uncompressed stream can be fetched.
enum class LayerAccess : uint8_t {
  kUncompressed = 0,     // offsets are blob offsets
  kGzipCheckpoints = 1,  // inflate from the nearest checkpoint
  kZstdFrames = 2,       // decompress from the frame holding the range
  kWholeFetch = 3,       // one zstd frame: only the whole layer helps
};
std::string_view LayerAccessName(LayerAccess access);

struct LayerInfo {
  std::string digest;   // "sha256:..." of the compressed blob
  std::string diff_id;  // "sha256:..." of the uncompressed tar
  std::string media_type;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  LayerAccess access = LayerAccess::kUncompressed;
  bool operator==(const LayerInfo&) const = default;
};

struct Metadata {
  // The image manifest this runtime image belongs to ("sha256:...").
  std::string image_digest;
  std::string image_reference;       // informational
  std::vector<std::string> sources;  // what was traced, one per trace
  uint32_t page_size = 4096;
  uint32_t chunk_span = kDefaultChunkSpan;
  uint32_t piece_size = kDefaultPieceSize;
  uint64_t blob_size = 0;
  std::string blob_digest;    // sha256 of the blob file
  std::string index_digest;   // sha256 of the index file
  uint64_t traced_bytes = 0;  // bytes the traces recorded in image files
  std::vector<LayerInfo> layers;
  std::vector<Entry> entries;  // sorted by path; entries[0] is "/"
  std::vector<FileContent> contents;
  std::vector<Chunk> chunks;  // ascending blob_offset
  bool operator==(const Metadata&) const = default;

  uint64_t ExtentBytes() const;  // sum of extent lengths
  // The pieces a content is verified in: 0 for an empty file.
  uint64_t PieceCount(const FileContent& c) const {
    return c.size == 0 ? 0 : (c.size - 1) / piece_size + 1;
  }
  // The digest of piece i of a content.
  const Sha256Bytes& PieceDigest(const FileContent& c, uint64_t i) const {
    return c.pieces.empty() ? c.digest : c.pieces[i];
  }
  uint64_t RegularBytes() const;  // sum of content sizes
  // Index of the entry with this path, or -1.
  int64_t Find(std::string_view path) const;
};

// `version` 2 writes what readers from before compressed chunks read: only
// valid when no chunk is compressed and every one is page-aligned (the
// decoder checks).
std::string EncodeMetadata(const Metadata& metadata, uint32_t version = kMetadataVersion);
// Validates structure and cross-references (sorted unique paths, parents
// are directories, indexes in range, extents inside files and chunks,
// chunks inside the blob).
Result<Metadata> DecodeMetadata(std::string_view data);

// A runtime image directory opened for reading. Checks that the blob file
// has exactly the size the metadata says (a short one is reported as
// truncated) and that the index decodes; every chunk read is verified.
class RuntimeImageDir {
 public:
  static Result<RuntimeImageDir> Open(const std::string& dir);

  const Metadata& metadata() const { return metadata_; }
  const std::string& metadata_bytes() const { return metadata_bytes_; }
  const std::string& index_bytes() const { return index_bytes_; }
  const std::string& dir() const { return dir_; }

  // The chunk's bytes, checked against its digest.
  Result<std::string> ReadChunk(uint32_t chunk) const;
  // Bytes [offset, offset+length) of a file from its extents; kNotFound when
  // part of the range is not in the runtime image.
  Result<std::string> ReadFileRange(const FileContent& content, uint64_t offset,
                                    uint64_t length) const;
  // Reads the whole blob once: its sha256 and every chunk's.
  Status VerifyBlob() const;

 private:
  // Blob bytes [offset, offset+length); a short read is "truncated".
  Result<std::string> ReadBlob(uint64_t offset, uint64_t length) const;

  std::string dir_;
  Metadata metadata_;
  std::string metadata_bytes_;
  std::string index_bytes_;
  UniqueFd blob_;
};

// Verifies that data is the chunk's bytes (length and sha256).
Status VerifyChunk(const Chunk& chunk, uint32_t index, std::string_view data);
// The chunk's bytes from its `stored` bytes as the blob holds them:
// decompressed (into exactly `length` bytes, no more) when the chunk is
// compressed, and verified either way. A frame that is corrupt, or
// decompresses to other bytes or another length, fails as corruption.
Result<std::string> DecodeChunk(const Chunk& chunk, uint32_t index, std::string_view stored);
// What the builder stores for `data`: a zstd frame at `level` when it is
// at most 7/8 of the bytes, else the bytes themselves.
std::string EncodeChunk(std::string_view data, int level);

}  // namespace syspgo::rtimage

#endif  // SYSPGO_RTIMAGE_FORMAT_H_
