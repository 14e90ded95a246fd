// SPDX-License-Identifier: Apache-2.0
// File: snapshotter/metadata.h
//
// The snapshotter's own records: one row per snapshot, in SQLite (Debian's
// libsqlite3): every change is one transaction, the database is fsync'd at
// commit (WAL, synchronous=FULL), so a crash or SIGKILL leaves either the
// old or the new state; docs/containerd.md says why SQLite.
//
// Threading: a MetadataStore is not thread-safe; the snapshotter serialises
// calls.
#ifndef SYSPGO_SNAPSHOTTER_METADATA_H_
#define SYSPGO_SNAPSHOTTER_METADATA_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace syspgo::snapshotter {

enum class Kind { kView = 1, kActive = 2, kCommitted = 3 };

// A committed snapshot that is a layer of an image served from its
// runtime image (no directory of its own).
struct RemoteLayer {
  std::string image;     // the reference the image was pulled by
  std::string manifest;  // "sha256:..."
  std::string layer;     // this layer's digest
  bool top = false;      // the image's last layer: holds the mount
};

struct SnapshotRecord {
  int64_t id = 0;      // names the directory snapshots/<id>
  std::string key;     // the name containerd knows it by
  std::string parent;  // key of the parent, "" for none
  Kind kind = Kind::kActive;
  std::map<std::string, std::string> labels;
  int64_t created_ns = 0;  // wall clock, ns since the epoch
  int64_t updated_ns = 0;
  std::string ns;  // containerd namespace that made it, if told
  std::optional<RemoteLayer> remote;
};

class MetadataStore {
 public:
  // Opens (creates) the database at path (0600).
  static Result<std::unique_ptr<MetadataStore>> Open(const std::string& path);
  ~MetadataStore();
  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;

  // kNotFound when there is none.
  Result<SnapshotRecord> Get(const std::string& key);
  // Inserts `record` (its id is assigned and returned); kAlreadyExists when
  // the key is taken.
  Result<int64_t> Insert(const SnapshotRecord& record);
  // Active -> committed under `name` with `labels` merged in.
  Status Commit(const std::string& key, const std::string& name,
                const std::map<std::string, std::string>& labels, int64_t now_ns);
  // Replaces the labels.
  Status SetLabels(const std::string& key, const std::map<std::string, std::string>& labels,
                   int64_t now_ns);
  // kFailedPrecondition when it has children.
  Status Remove(const std::string& key);
  Result<std::vector<SnapshotRecord>> List();
  Result<int64_t> CountChildren(const std::string& key);

 private:
  explicit MetadataStore(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  sqlite3* db_;
};

}  // namespace syspgo::snapshotter

#endif  // SYSPGO_SNAPSHOTTER_METADATA_H_
