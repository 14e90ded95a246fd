// SPDX-License-Identifier: Apache-2.0
// File: rtimage/layer_index.h
//
// Random access into compressed layers (docs/runtime-image.md, "index").
// A gzip layer gets inflate checkpoints at deflate block boundaries every
// `span` bytes of output, each with the bit offset and the 32 KiB window
// that precedes it (the method of zlib's zran.c, as SOCI uses it); a zstd
// layer gets one point per frame when it has several; an uncompressed layer
// needs none. Any byte range of the uncompressed stream can then be fetched
// with one Range request (PlanRange) and decompressed (ExtractRange).
//
// IndexingReader builds the index while the layer streams through it once
// (it is a ByteReader of the uncompressed bytes, so the tar reader sits on
// top of it). No network and no file system here: callers fetch.
#ifndef SYSPGO_RTIMAGE_LAYER_INDEX_H_
#define SYSPGO_RTIMAGE_LAYER_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/stream.h"
#include "rtimage/format.h"

namespace syspgo::rtimage {

inline constexpr uint64_t kDefaultCheckpointSpan = 4 << 20;
inline constexpr uint32_t kIndexVersion = 1;
inline constexpr size_t kWindowSize = 32 << 10;

enum class StreamCompression : uint8_t { kNone = 0, kGzip = 1, kZstd = 2 };

struct AccessPoint {
  uint64_t out = 0;  // offset in the uncompressed stream
  uint64_t in = 0;   // offset in the compressed blob (see `bits`)
  // gzip: unused bits of byte in-1 that belong to the next block (0-7).
  uint8_t bits = 0;
  // gzip: a member starts here (a header follows; no window needed).
  bool member_start = false;
  std::string window;  // gzip: up to 32 KiB of output before `out`
  bool operator==(const AccessPoint&) const = default;
};

struct LayerIndex {
  LayerAccess access = LayerAccess::kUncompressed;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  std::vector<AccessPoint> points;  // ascending out and in
  bool operator==(const LayerIndex&) const = default;
};

// The index file: one LayerIndex per layer of the metadata, same order.
// Windows are stored deflate-compressed. Magic "SPGOIDX\n", CRC-32.
std::string EncodeLayerIndexes(const std::vector<LayerIndex>& layers);
Result<std::vector<LayerIndex>> DecodeLayerIndexes(std::string_view data);

// Decompresses `source` (the compressed layer as stored) and records
// access points. Read() returns uncompressed bytes; after the end of stream,
// TakeIndex() returns the index (compressed and uncompressed sizes filled).
class IndexingReader final : public ByteReader {
 public:
  static Result<std::unique_ptr<IndexingReader>> Create(StreamCompression compression,
                                                        ByteReader* source,
                                                        uint64_t span = kDefaultCheckpointSpan);
  ~IndexingReader() override;

  Result<size_t> Read(std::span<char> buf) override;
  // Valid once Read() has returned 0.
  Result<LayerIndex> TakeIndex();

  struct Impl;

 private:
  explicit IndexingReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Which compressed bytes decompress to [offset, offset+length).
struct RangePlan {
  uint64_t compressed_begin = 0;
  uint64_t compressed_end = 0;  // exclusive
  size_t point = 0;             // index of the starting access point
  bool from_start = false;      // no point: decompress from the blob start
};
Result<RangePlan> PlanRange(const LayerIndex& index, uint64_t offset, uint64_t length);

// Decompresses `compressed` (the bytes PlanRange asked for) and returns
// uncompressed bytes [offset, offset+length).
Result<std::string> ExtractRange(const LayerIndex& index, const RangePlan& plan,
                                 std::string_view compressed, uint64_t offset, uint64_t length);

}  // namespace syspgo::rtimage

#endif  // SYSPGO_RTIMAGE_LAYER_INDEX_H_
