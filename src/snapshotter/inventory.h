// SPDX-License-Identifier: Apache-2.0
// File: snapshotter/inventory.h
//
// What containerd keeps through the syspgo snapshotter on this node, read
// from the snapshotter's records (<root>/snapshotter/metadata.db; the
// daemon may be running: SQLite in WAL mode lets this read beside it): the
// images whose layers it holds (served from their runtime image, or
// unpacked here), their snapshots, the containers on them, and the bytes
// under <root>/snapshotter. `syspgo images` shows it beside the store.
#ifndef SYSPGO_SNAPSHOTTER_INVENTORY_H_
#define SYSPGO_SNAPSHOTTER_INVENTORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace syspgo::snapshotter {

struct SnapshotterImage {
  std::string reference;  // as containerd pulled it (cri.image-ref)
  std::string manifest;   // "sha256:..."
  bool remote = false;    // its root file system is its shared mount
  int layers = 0;         // layer snapshots prepared for it here
  int remote_layers = 0;  // of those, served from its runtime image
  int64_t bytes = 0;      // its layers' directories here
  int containers = 0;     // container snapshots on its top layer
};

struct SnapshotterUsage {
  bool present = false;                  // the node has a snapshotter store
  std::vector<SnapshotterImage> images;  // by reference
  int snapshots = 0;
  int containers = 0;  // active and view snapshots over an image
  int64_t bytes = 0;   // everything under <root>/snapshotter
};

Result<SnapshotterUsage> InspectSnapshotter(const std::string& root);

}  // namespace syspgo::snapshotter

#endif  // SYSPGO_SNAPSHOTTER_INVENTORY_H_
