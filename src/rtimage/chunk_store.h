// SPDX-License-Identifier: Apache-2.0
// File: rtimage/chunk_store.h
//
// The node's chunk store: runtime-image chunks keyed by their sha256, one
// file each (<root>/<2 hex>/<64 hex>), so runtime images that share data
// (same base image, same libraries) fetch and keep it once. Every Put and
// Get checks the digest; a stored chunk that fails is removed and reported.
// Files are written to a temporary name and renamed, so concurrent writers
// of one chunk are harmless.
#ifndef SYSPGO_RTIMAGE_CHUNK_STORE_H_
#define SYSPGO_RTIMAGE_CHUNK_STORE_H_

#include <string>
#include <string_view>

#include "common/status.h"
#include "rtimage/format.h"

namespace syspgo::rtimage {

class ChunkStore {
 public:
  static Result<ChunkStore> Open(const std::string& root);

  std::string PathOf(const Sha256Bytes& digest) const;
  bool Has(const Sha256Bytes& digest) const;
  // data must hash to digest.
  Status Put(const Sha256Bytes& digest, std::string_view data);
  // For data the caller has just checked against digest (VerifyChunk).
  Status PutVerified(const Sha256Bytes& digest, std::string_view data);
  Result<std::string> Get(const Chunk& chunk) const;

 private:
  explicit ChunkStore(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

}  // namespace syspgo::rtimage

#endif  // SYSPGO_RTIMAGE_CHUNK_STORE_H_
