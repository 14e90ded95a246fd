// SPDX-License-Identifier: Apache-2.0
// File: fs/cache_claim.h
//
// What a live lazy mount uses of the node's caches (<cache_root>/chunks and
// /spans), where the garbage collector (node/store.h) can see it, so that
// gc on a busy node removes the caches of images nothing mounts and keeps
// (or, down to --max-size, evicts least recently used first) those of the
// mounts that live.
//
// A claim is <cache_root>/in-use/claim-XXXXXX, JSON:
//   {"mount": "/dir", "chunks": ["<64 hex>", ...], "layers": ["<64 hex>", ...]}
// (chunk digests of its runtime image; layer digests whose spans it reads),
// held under an exclusive flock by the process that serves the mount for
// as long as it lives. The lock is the proof of life: a claim whose lock
// is free belongs to a process that is gone (killed, crashed), whatever
// pid it had, and the collector removes it.
//
// Evicting what a live mount claims never breaks it: a chunk that is gone
// is read from the layer instead (fs/file_data.h), a span that is gone is
// fetched again (fs/fetch.h); both are verified as always.
#ifndef SYSPGO_FS_CACHE_CLAIM_H_
#define SYSPGO_FS_CACHE_CLAIM_H_

#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace syspgo::fs {

class CacheClaim {
 public:
  static Result<CacheClaim> Write(const std::string& cache_root, const std::string& mount,
                                  const std::vector<std::string>& chunk_hexes,
                                  const std::vector<std::string>& layer_hexes);
  CacheClaim() = default;
  CacheClaim(CacheClaim&& other) noexcept { *this = std::move(other); }
  CacheClaim& operator=(CacheClaim&& other) noexcept;
  ~CacheClaim() { Release(); }
  // Removes the claim (idempotent).
  void Release();

 private:
  std::string path_;
  UniqueFd fd_;  // holds the flock
};

// The caches live mounts claim, for the collector.
struct LiveCacheUse {
  std::set<std::string> chunks;  // chunk digests (hex)
  std::set<std::string> layers;  // layer digests (hex) whose spans are in use
  int claims = 0;                // live claims read
  // A live claim that could not be read (being written, or damaged): the
  // collector cannot tell what it uses and keeps every cache.
  bool unknown = false;
};
// Reads <cache_root>/in-use; removes the claims whose holder is gone.
LiveCacheUse ReadCacheClaims(const std::string& cache_root);

}  // namespace syspgo::fs

#endif  // SYSPGO_FS_CACHE_CLAIM_H_
