// SPDX-License-Identifier: Apache-2.0
// File: oci/layer_store.h
//
// The node's content store, one directory:
//   blobs/sha256/<hex>       verified blobs (manifests, configs, layers)
//   layers/sha256/<hex>/fs   unpacked layers, keyed by diff_id, overlay-ready
//   refs/<escaped ref>       image reference -> manifest digest
//   locks/layers/<hex>       flock'd while one user fetches that layer
//   locks/sessions           flock'd while a session is made or stale ones removed
//   locks/gc                 shared by users while they take objects into use,
//                            exclusive while the garbage collector runs
//   tmp/session-*/           work in progress of one process
// Everything appears under its final name by rename(2) only when complete
// and verified, so a kill at any moment leaves no half-written blob or layer
// under a final name. A session directory is locked by its process; the
// next Open() removes sessions whose owner is gone.
//
// Thread-safety: all methods may be called from several threads.
#ifndef SYSPGO_OCI_LAYER_STORE_H_
#define SYSPGO_OCI_LAYER_STORE_H_

#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/file_util.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "oci/reference.h"

namespace syspgo::oci {

class LayerStore {
 public:
  static Result<LayerStore> Open(const std::string& root);
  LayerStore(LayerStore&&) = default;
  LayerStore& operator=(LayerStore&&) = default;
  ~LayerStore();

  const std::string& root() const { return root_; }

  std::string BlobPath(const Digest& digest) const;
  bool HasBlob(const Digest& digest) const;
  // Reads a blob and checks that it still hashes to its name.
  Result<std::string> ReadBlob(const Digest& digest, size_t max_bytes = 64 << 20) const;
  // Checks content against digest, then stores it atomically.
  Status PutBlob(const Digest& digest, std::string_view content);
  // Moves a finished, already verified file into the store.
  Status CommitBlobFile(const std::string& file, const Digest& digest);

  std::string LayerDir(const Digest& diff_id) const;     // .../<hex>
  std::string LayerFsPath(const Digest& diff_id) const;  // .../<hex>/fs
  bool HasLayer(const Digest& diff_id) const;
  // Moves a complete layer directory (holding fs/) into the store. If another
  // process committed the same layer first, ours is discarded.
  Status CommitLayer(TempDir dir, const Digest& diff_id);

  // Waits until no other user of the store (process or thread) fetches the
  // layer diff_id, then holds it until the fd closes: the holder fetches,
  // the others then find the layer stored (HasLayer) instead of fetching it
  // again. Checks `cancel` (may be null) while it waits. Lock files stay:
  // one that disappeared could be held by two users on two inodes.
  Result<UniqueFd> LockLayer(const Digest& diff_id, const CancelToken* cancel) const;

  // The garbage collector's lock. A user holds it shared (HoldAgainstGc)
  // from the moment it decides to use stored objects until that use is
  // visible to the collector: a ref written (a pull), an overlay mounted (a
  // run), a shared mount's directory written (a mount server). The
  // collector holds it exclusive (LockForGc) while it decides and removes.
  // Both wait, checking `cancel` (may be null).
  static Result<UniqueFd> HoldAgainstGc(const std::string& root, const CancelToken* cancel);
  static Result<UniqueFd> LockForGc(const std::string& root, const CancelToken* cancel);

  // A new directory inside this process's session directory.
  Result<TempDir> NewTempDir(std::string_view prefix) const;

  Status SetRef(const std::string& reference, const Digest& manifest);
  Result<Digest> GetRef(const std::string& reference) const;
  // Every reference in the store with its manifest digest.
  struct RefEntry {
    std::string reference;
    Digest manifest;
    int64_t mtime = 0;  // when it was last set (a pull or a start), seconds
  };
  Result<std::vector<RefEntry>> ListRefs() const;
  // NotFound when the store has no such reference.
  Status RemoveRef(const std::string& reference);
  // Marks the reference used now (its mtime): `syspgo gc --max-size`
  // removes the least recently used images first.
  void TouchRef(const std::string& reference);

 private:
  LayerStore(std::string root, std::string session, UniqueFd session_lock)
      : root_(std::move(root)),
        session_(std::move(session)),
        session_lock_(std::move(session_lock)) {}
  std::string root_;
  std::string session_;    // tmp/session-XXXXXX, removed on destruction
  UniqueFd session_lock_;  // flock(LOCK_EX) held for the store's lifetime
};

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_LAYER_STORE_H_
