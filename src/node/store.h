// SPDX-License-Identifier: Apache-2.0
// File: node/store.h
//
// What is in a node's store (<root>: oci/layer_store.h's blobs, layers and
// refs; the runtime-image caches chunks/, spans/ and rtimages/), what of
// it is in use, and removing what is not: `syspgo images`, `syspgo rmi`
// and `syspgo gc`.
//
// In use, and never removed:
//   - every layer an overlay mount of this mount namespace has as a lower
//     directory (a running container started from the full image);
//   - the chunks and spans live lazy mounts (a shared mount server, `run
//     --mode lazy`, `syspgo mount`) use, as their claims say
//     (fs/cache_claim.h): when --max-size cannot be reached otherwise,
//     they are evicted least recently used first (the mount reads what it
//     needs of them from the registry again, verified as always); chunks
//     and spans no live mount claims are garbage. While a lazy mount lives
//     whose claim cannot be read, every cache is kept, and the runtime
//     images `image fetch` stored are kept while any lazy mount lives;
//   - what users are taking into use at this moment: they hold the store's
//     gc lock shared (LayerStore::HoldAgainstGc) until their use shows
//     (a ref, an overlay mount, a FUSE mount), and the collector waits.
// Stored images (a ref) keep their manifest, config, layer blobs and
// layers. Everything else is garbage: `gc` removes it all, least recently
// used first when --max-size says how far to go; past that, --max-size
// removes whole stored images that nothing uses, least recently used
// (pulled or started) first, as the kubelet's image garbage collection does.
#ifndef SYSPGO_NODE_STORE_H_
#define SYSPGO_NODE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/status.h"
#include "oci/reference.h"

namespace syspgo::node {

struct StoredImage {
  std::string reference;
  oci::Digest manifest;
  int64_t last_used = 0;  // seconds since the epoch: last pull or start from it
  int layers = 0;
  int64_t bytes = 0;         // its layers and blobs on disk, shared ones included
  int64_t unique_bytes = 0;  // what removing it alone would free
  int containers = 0;        // running containers whose root has its layers
};

struct CacheUsage {
  int64_t entries = 0;
  int64_t bytes = 0;
};

struct StoreUsage {
  std::vector<StoredImage> images;  // by reference
  CacheUsage chunks;                // runtime-image chunks (shared by runtime images)
  CacheUsage spans;                 // lazy fallback spans of layers
  CacheUsage rtimages;              // runtime images fetched with `image fetch`
  CacheUsage unreferenced;          // layers and blobs no stored image names
  int64_t total_bytes = 0;
  int running_containers = 0;  // overlay roots on the store's layers
  int live_mounts = 0;         // lazy (FUSE) mounts under the root
};

// Reads the store; takes no lock (a snapshot that may be a moment old).
Result<StoreUsage> InspectStore(const std::string& root);

struct GcOptions {
  // Also remove whole stored images nothing uses, least recently used
  // first, until the store is at most this many bytes.
  std::optional<int64_t> max_size;
  // Only layers and blobs: the caches are left (rmi).
  bool keep_caches = false;
  bool dry_run = false;
  const CancelToken* cancel = nullptr;
};

struct GcResult {
  int64_t bytes_before = 0;
  int64_t bytes_after = 0;
  int64_t layers_removed = 0;
  int64_t blobs_removed = 0;
  int64_t cache_entries_removed = 0;
  int64_t live_cache_entries_evicted = 0;   // of live mounts' caches (--max-size)
  std::vector<std::string> images_removed;  // references (--max-size)
  int64_t bytes_in_use = 0;                 // of layers running containers hold
  std::vector<std::string> notes;           // why something was kept
};

// Waits for the store's gc lock, then removes what is not in use.
Result<GcResult> CollectGarbage(const std::string& root, const GcOptions& options);

// Removes references (NotFound names one that is not stored), then the
// layers and blobs no stored image or running container uses any more.
Result<GcResult> RemoveImages(const std::string& root, const std::vector<std::string>& references,
                              const CancelToken* cancel);

// "123", "1.5G", "200M", "64K" (powers of 1024) in bytes.
Result<int64_t> ParseSize(const std::string& text);

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_STORE_H_
