// SPDX-License-Identifier: Apache-2.0
// File: fs/cache_layout.h
//
// The node's caches below its store root (docs/node.md, "Store"): what
// lazy mounts and `syspgo image fetch` fill, what `syspgo store gc` may
// empty. Named here once; the layer store's own directories (blobs,
// layers) are oci/layer_store.h's.
#ifndef SYSPGO_FS_CACHE_LAYOUT_H_
#define SYSPGO_FS_CACHE_LAYOUT_H_

#include <string>

#include "common/file_util.h"

namespace syspgo::fs {

// Verified runtime image chunks, shared by every runtime image:
// chunks/<2 hex>/<64 hex> (rtimage/chunk_store.h).
inline constexpr char kChunksDir[] = "chunks";
// Spans of layer blobs fetched for reads a runtime image did not answer.
inline constexpr char kSpansDir[] = "spans";
// Fetched runtime images' metadata and index, by artifact digest:
// rtimages/<64 hex>/{metadata,index}.
inline constexpr char kRuntimeImagesDir[] = "rtimages";
// The caches gc may remove entries of, in that order.
inline constexpr const char* kCacheDirs[] = {kChunksDir, kSpansDir, kRuntimeImagesDir};

inline std::string ChunksDir(const std::string& root) { return JoinPath(root, kChunksDir); }
inline std::string SpansDir(const std::string& root) { return JoinPath(root, kSpansDir); }
inline std::string RuntimeImageCacheDir(const std::string& root, const std::string& artifact_hex) {
  return JoinPath(JoinPath(root, kRuntimeImagesDir), artifact_hex);
}

}  // namespace syspgo::fs

#endif  // SYSPGO_FS_CACHE_LAYOUT_H_
