// SPDX-License-Identifier: Apache-2.0
// File: rtimage/builder.h
//
// Builds a runtime image (format.h) from an image's compressed layers and
// one or more access profiles (what a traced start read). One pass over each
// layer does everything: verify the blob digest and the diff_id, record
// checkpoints (layer_index.h), merge the tar entries into the root file
// system as overlayfs would show it (whiteouts and opaque directories
// applied), hash every regular file, and keep the traced byte ranges. The
// blob then gets the traced extents, cut into chunks on a fixed grid of file
// offsets, in first-access order, each distinct chunk once.
//
// Profiles are plain data so that the builder needs no tracer: the CLI turns
// trace files into profiles.
#ifndef SYSPGO_RTIMAGE_BUILDER_H_
#define SYSPGO_RTIMAGE_BUILDER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "oci/manifest.h"
#include "rtimage/format.h"
#include "rtimage/layer_index.h"

namespace syspgo::rtimage {

struct AccessedFile {
  std::string path;  // absolute path inside the image's root
  uint64_t first_access_ns = 0;
  // (first page, page count); any order, may overlap.
  std::vector<std::pair<uint64_t, uint64_t>> pages;
};

struct AccessProfile {
  std::string source;  // what was traced, for the metadata
  uint32_t page_size = 4096;
  std::vector<AccessedFile> files;
};

struct BuildLayer {
  oci::Descriptor descriptor;  // the compressed blob as the manifest lists it
  oci::Digest diff_id;
  std::string blob_path;  // a local copy of the compressed blob
};

struct BuildOptions {
  std::string image_digest;  // the image manifest's digest ("sha256:...")
  std::string image_reference;
  std::vector<BuildLayer> layers;       // bottom first
  std::vector<AccessProfile> profiles;  // none: metadata and index only
  std::string output_dir;
  uint32_t chunk_span = kDefaultChunkSpan;
  uint32_t piece_size = kDefaultPieceSize;  // files are verified in pieces
  uint64_t checkpoint_span = kDefaultCheckpointSpan;
  // zstd level for chunks (each compressed on its own, kept only where it
  // saves an eighth); 0 stores them as they are.
  int chunk_compression_level = kDefaultChunkCompressionLevel;
  const Logger* log = nullptr;  // may be null
};

struct BuildReport {
  uint64_t entries = 0;
  uint64_t regular_files = 0;
  uint64_t image_bytes = 0;                   // bytes of all regular files of the image
  uint64_t traced_files = 0;                  // traced paths found in the image
  uint64_t skipped_files = 0;                 // traced paths not regular files of the image
  std::vector<std::string> skipped_examples;  // a few of them
  uint64_t traced_bytes = 0;                  // traced bytes inside image files
  uint64_t extents = 0;
  uint64_t chunks = 0;
  uint64_t duplicate_chunks = 0;   // extents that reused a stored chunk
  uint64_t compressed_chunks = 0;  // stored as a zstd frame
  uint64_t chunk_bytes = 0;        // the chunks' bytes, uncompressed
  uint64_t blob_bytes = 0;         // what the blob takes (compressed)
  uint64_t metadata_bytes = 0;
  uint64_t index_bytes = 0;
  uint64_t access_points = 0;
};

Result<BuildReport> BuildRuntimeImage(const BuildOptions& options);

// One line per figure of the report, for people.
std::string FormatBuildReport(const BuildReport& report);

}  // namespace syspgo::rtimage

#endif  // SYSPGO_RTIMAGE_BUILDER_H_
