// SPDX-License-Identifier: Apache-2.0
// File: oci/compression.h
//
// Streaming gzip and zstd, both directions. Readers decompress a ByteReader;
// writers compress into a sink. Concatenated gzip members and zstd frames are
// read as one stream.
#ifndef SYSPGO_OCI_COMPRESSION_H_
#define SYSPGO_OCI_COMPRESSION_H_

#include <functional>
#include <memory>
#include <span>

#include "common/status.h"
#include "common/stream.h"
#include "oci/manifest.h"

namespace syspgo::oci {

// The compression the first bytes of a stream show (gzip and zstd magic),
// kNone otherwise.
Compression SniffCompression(std::span<const char> head);

// A reader of the decompressed stream. `source` must outlive the reader.
Result<std::unique_ptr<ByteReader>> NewDecompressingReader(Compression compression,
                                                           ByteReader* source);

using ChunkSink = std::function<Status(std::span<const char>)>;

class CompressingWriter {
 public:
  virtual ~CompressingWriter() = default;
  virtual Status Write(std::span<const char> data) = 0;
  // Flushes the end of the stream to the sink; no Write() after this.
  virtual Status Finish() = 0;
};

// level: gzip 1-9, zstd 1-19; 0 picks a fast default.
Result<std::unique_ptr<CompressingWriter>> NewCompressingWriter(Compression compression,
                                                                ChunkSink sink, int level = 0);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_COMPRESSION_H_
