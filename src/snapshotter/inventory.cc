// SPDX-License-Identifier: Apache-2.0
#include "snapshotter/inventory.h"

#include <algorithm>
#include <map>

#include "common/file_util.h"
#include "snapshotter/metadata.h"
#include "snapshotter/snapshotter.h"

namespace syspgo::snapshotter {

Result<SnapshotterUsage> InspectSnapshotter(const std::string& root) {
  SnapshotterUsage usage;
  const std::string dir = JoinPath(root, "snapshotter");
  const std::string db = JoinPath(dir, "metadata.db");
  if (!PathExists(db)) return usage;
  usage.present = true;
  ASSIGN_OR_RETURN(std::unique_ptr<MetadataStore> store, MetadataStore::Open(db));
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> records, store->List());
  usage.snapshots = static_cast<int>(records.size());
  std::map<std::string, const SnapshotRecord*> by_key;
  for (const SnapshotRecord& r : records) by_key[r.key] = &r;
  auto label = [](const SnapshotRecord& r, const char* name) {
    auto it = r.labels.find(name);
    return it == r.labels.end() ? std::string() : it->second;
  };
  // The image a layer snapshot was prepared for ("" for none).
  auto image_of = [&](const SnapshotRecord& r) {
    return r.remote ? r.remote->manifest : label(r, kLabelManifestDigest);
  };
  std::map<std::string, SnapshotterImage> images;  // by manifest
  for (const SnapshotRecord& r : records) {
    if (r.kind != Kind::kCommitted) continue;
    const std::string manifest = image_of(r);
    if (manifest.empty()) continue;
    SnapshotterImage& im = images[manifest];
    im.manifest = manifest;
    if (im.reference.empty()) im.reference = r.remote ? r.remote->image : label(r, kLabelImageRef);
    ++im.layers;
    if (r.remote) ++im.remote_layers;
    if (r.remote && r.remote->top) im.remote = true;
    im.bytes +=
        MeasureDiskUse(JoinPath(JoinPath(JoinPath(dir, "snapshots"), std::to_string(r.id)), "fs"))
            .bytes;
  }
  // A container's snapshot lies on its image's top layer snapshot.
  for (const SnapshotRecord& r : records) {
    // Not a layer being unpacked (those carry the chain id they become).
    if (r.kind == Kind::kCommitted || r.parent.empty() || r.labels.count(kLabelSnapshotRef))
      continue;
    auto parent = by_key.find(r.parent);
    if (parent == by_key.end()) continue;
    ++usage.containers;
    auto im = images.find(image_of(*parent->second));
    if (im != images.end()) ++im->second.containers;
  }
  for (auto& [manifest, im] : images) usage.images.push_back(std::move(im));
  std::sort(usage.images.begin(), usage.images.end(),
            [](const SnapshotterImage& a, const SnapshotterImage& b) {
              return a.reference != b.reference ? a.reference < b.reference
                                                : a.manifest < b.manifest;
            });
  usage.bytes = MeasureDiskUse(dir).bytes;
  return usage;
}

}  // namespace syspgo::snapshotter
