// SPDX-License-Identifier: Apache-2.0
#include "node/store.h"

#include <ftw.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "common/file_util.h"
#include "common/mount.h"
#include "common/unique_fd.h"
#include "fs/cache_claim.h"
#include "fs/cache_layout.h"
#include "oci/layer_store.h"
#include "oci/manifest.h"

namespace syspgo::node {
namespace {

int64_t DiskUsage(const std::string& path) { return MeasureDiskUse(path).bytes; }

int64_t LastUsed(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return std::max(st.st_atim.tv_sec, st.st_mtim.tv_sec);
}

std::vector<std::string> Entries(const std::string& dir) {
  auto names = ListDir(dir);
  return names.ok() ? *names : std::vector<std::string>();
}

std::string RealRoot(const std::string& root) {
  char buf[PATH_MAX];
  return ::realpath(root.c_str(), buf) ? std::string(buf) : root;
}

// What is in use right now, from the mount table and the store's locks.
struct Live {
  std::map<std::string, int> layers;  // diff_id hex -> overlay mounts using it
  // The store's layers of each overlay mount on them (a container's root).
  std::vector<std::set<std::string>> roots;
  int containers = 0;   // overlay mounts on the store's layers
  int lazy_mounts = 0;  // FUSE mounts under the root
  // Containers whose root is made of all of these layers (an image's).
  int Running(const std::set<std::string>& image_layers) const {
    if (image_layers.empty()) return 0;
    int n = 0;
    for (const auto& r : roots) {
      n += std::includes(r.begin(), r.end(), image_layers.begin(), image_layers.end()) ? 1 : 0;
    }
    return n;
  }
};

Live FindLive(const std::string& root) {
  Live live;
  const std::string real = RealRoot(root);
  const std::string layers_prefix = JoinPath(real, "layers/sha256") + "/";
  for (const MountInfo& m : ReadMountInfo()) {
    if (m.fstype.rfind("fuse", 0) == 0 && m.mount_point.rfind(real + "/", 0) == 0) {
      ++live.lazy_mounts;
    }
    if (m.fstype != "overlay") continue;
    size_t at = m.super_options.find("lowerdir=");
    if (at == std::string::npos) continue;
    std::string lower = m.super_options.substr(at + 9);
    lower = lower.substr(0, lower.find(','));
    std::set<std::string> layers;
    for (std::string_view dir : Split(lower, ':', false)) {
      if (dir.rfind(layers_prefix, 0) != 0) continue;
      std::string_view hex = dir.substr(layers_prefix.size());
      hex = hex.substr(0, hex.find('/'));
      ++live.layers[std::string(hex)];
      layers.insert(std::string(hex));
    }
    if (!layers.empty()) {
      ++live.containers;
      live.roots.push_back(std::move(layers));
    }
  }
  return live;
}

struct ImageObjects {
  oci::LayerStore::RefEntry ref;
  std::set<std::string> blobs;   // hex: manifest, config, layer blobs
  std::set<std::string> layers;  // diff_id hex
};

Result<std::vector<ImageObjects>> StoredImages(const std::string& root,
                                               const oci::LayerStore& store) {
  std::vector<ImageObjects> out;
  ASSIGN_OR_RETURN(std::vector<oci::LayerStore::RefEntry> refs, store.ListRefs());
  for (oci::LayerStore::RefEntry& ref : refs) {
    ImageObjects o;
    o.blobs.insert(ref.manifest.hex);
    auto body = store.ReadBlob(ref.manifest);
    if (body.ok()) {
      auto manifest = oci::ParseImageManifest(*body);
      if (manifest.ok()) {
        o.blobs.insert(manifest->config.digest.hex);
        for (const oci::Descriptor& l : manifest->layers) o.blobs.insert(l.digest.hex);
        auto config = store.ReadBlob(manifest->config.digest);
        if (config.ok()) {
          auto parsed = oci::ParseImageConfig(*config);
          if (parsed.ok()) {
            for (const oci::Digest& d : parsed->diff_ids) o.layers.insert(d.hex);
          }
        }
      }
    }
    o.ref = std::move(ref);
    out.push_back(std::move(o));
  }
  std::sort(out.begin(), out.end(), [](const ImageObjects& a, const ImageObjects& b) {
    return a.ref.reference < b.ref.reference;
  });
  return out;
}

// One removable thing: a blob file, a layer directory, a cache entry.
struct Candidate {
  enum Kind { kBlob, kLayer, kCache } kind;
  std::string path;
  int64_t bytes = 0;
  int64_t last_used = 0;
};

std::vector<Candidate> CacheEntries(const std::string& root) {
  std::vector<Candidate> out;
  for (const char* cache : fs::kCacheDirs) {
    const std::string dir = JoinPath(root, cache);
    for (const std::string& name : Entries(dir)) {
      const std::string path = JoinPath(dir, name);
      if (std::string(cache) == fs::kChunksDir) {
        // chunks/<2 hex>/<64 hex>: each chunk on its own.
        for (const std::string& chunk : Entries(path)) {
          const std::string file = JoinPath(path, chunk);
          out.push_back({Candidate::kCache, file, DiskUsage(file), LastUsed(file)});
        }
      } else {
        out.push_back({Candidate::kCache, path, DiskUsage(path), LastUsed(path)});
      }
    }
  }
  return out;
}

// Removes a layer directory by renaming it out of its final name first, so
// that a removal cut short never leaves half a layer that looks stored.
Status RemoveLayerDir(const std::string& root, const std::string& path) {
  const std::string doomed = JoinPath(root, "tmp/gc-" + BaseName(path));
  if (::rename(path.c_str(), doomed.c_str()) != 0) return ErrnoStatus(errno, "rename", path);
  return RemoveTree(doomed);
}

Status Remove(const std::string& root, const Candidate& c) {
  switch (c.kind) {
    case Candidate::kLayer:
      return RemoveLayerDir(root, c.path);
    case Candidate::kBlob:
      if (::unlink(c.path.c_str()) != 0 && errno != ENOENT)
        return ErrnoStatus(errno, "remove", c.path);
      return Status::Ok();
    case Candidate::kCache:
      return RemoveTree(c.path);
  }
  return Status::Ok();
}

int64_t StoreBytes(const std::string& root) {
  int64_t total = 0;
  for (const char* dir :
       {"blobs", "layers", fs::kChunksDir, fs::kSpansDir, fs::kRuntimeImagesDir}) {
    total += DiskUsage(JoinPath(root, dir));
  }
  return total;
}

// Layers and blobs that none of `images` names and no container holds.
std::vector<Candidate> Unreferenced(const std::string& root,
                                    const std::vector<ImageObjects>& images, const Live& live) {
  std::set<std::string> blobs, layers;
  for (const ImageObjects& o : images) {
    blobs.insert(o.blobs.begin(), o.blobs.end());
    layers.insert(o.layers.begin(), o.layers.end());
  }
  std::vector<Candidate> out;
  const std::string blob_dir = JoinPath(root, "blobs/sha256");
  for (const std::string& hex : Entries(blob_dir)) {
    if (blobs.count(hex) || hex.find(".tmp") != std::string::npos) continue;
    const std::string path = JoinPath(blob_dir, hex);
    out.push_back({Candidate::kBlob, path, DiskUsage(path), LastUsed(path)});
  }
  const std::string layer_dir = JoinPath(root, "layers/sha256");
  for (const std::string& hex : Entries(layer_dir)) {
    if (layers.count(hex) || live.layers.count(hex)) continue;
    const std::string path = JoinPath(layer_dir, hex);
    out.push_back({Candidate::kLayer, path, DiskUsage(path), LastUsed(path)});
  }
  return out;
}

}  // namespace

Result<int64_t> ParseSize(const std::string& text) {
  if (text.empty()) return InvalidArgument("a size is empty");
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (...) {
    return InvalidArgument("'" + text + "' is not a size (like 500M or 20G)");
  }
  std::string unit = text.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  static const std::map<std::string, double> kUnits = {{"", 1},
                                                       {"K", 1024.0},
                                                       {"k", 1024.0},
                                                       {"M", 1048576.0},
                                                       {"m", 1048576.0},
                                                       {"G", 1073741824.0},
                                                       {"g", 1073741824.0},
                                                       {"T", 1099511627776.0},
                                                       {"t", 1099511627776.0}};
  auto u = kUnits.find(unit);
  if (u == kUnits.end() || value < 0) {
    return InvalidArgument("'" + text + "' is not a size (like 500M or 20G)");
  }
  return static_cast<int64_t>(value * u->second);
}

Result<StoreUsage> InspectStore(const std::string& root) {
  ASSIGN_OR_RETURN(oci::LayerStore store, oci::LayerStore::Open(root));
  ASSIGN_OR_RETURN(std::vector<ImageObjects> images, StoredImages(root, store));
  const Live live = FindLive(root);
  StoreUsage usage;
  usage.running_containers = live.containers;
  usage.live_mounts = live.lazy_mounts;
  std::map<std::string, int> layer_users;  // hex -> stored images naming it
  std::map<std::string, int> blob_users;
  for (const ImageObjects& o : images) {
    for (const std::string& l : o.layers) ++layer_users[l];
    for (const std::string& b : o.blobs) ++blob_users[b];
  }
  std::map<std::string, int64_t> layer_bytes, blob_bytes;
  for (const auto& [hex, n] : layer_users)
    layer_bytes[hex] = DiskUsage(store.LayerDir({"sha256", hex}));
  for (const auto& [hex, n] : blob_users)
    blob_bytes[hex] = DiskUsage(store.BlobPath({"sha256", hex}));
  for (const ImageObjects& o : images) {
    StoredImage img;
    img.reference = o.ref.reference;
    img.manifest = o.ref.manifest;
    img.last_used = o.ref.mtime;
    img.layers = static_cast<int>(o.layers.size());
    for (const std::string& l : o.layers) {
      img.bytes += layer_bytes[l];
      if (layer_users[l] == 1 && !live.layers.count(l)) img.unique_bytes += layer_bytes[l];
    }
    for (const std::string& b : o.blobs) {
      img.bytes += blob_bytes[b];
      if (blob_users[b] == 1) img.unique_bytes += blob_bytes[b];
    }
    img.containers = live.Running(o.layers);
    usage.images.push_back(std::move(img));
  }
  for (const Candidate& c : Unreferenced(root, images, live)) {
    ++usage.unreferenced.entries;
    usage.unreferenced.bytes += c.bytes;
  }
  for (const Candidate& c : CacheEntries(root)) {
    // By the cache directory the entry is in (the root's own path may hold
    // any of the names).
    CacheUsage& u = c.path.starts_with(fs::ChunksDir(root) + "/")  ? usage.chunks
                    : c.path.starts_with(fs::SpansDir(root) + "/") ? usage.spans
                                                                   : usage.rtimages;
    ++u.entries;
    u.bytes += c.bytes;
  }
  usage.total_bytes = StoreBytes(root);
  return usage;
}

namespace {

// CollectGarbage's work, with the store open and its gc lock held.
Result<GcResult> CollectLocked(const std::string& root, oci::LayerStore& store,
                               const GcOptions& options) {
  GcResult result;
  result.bytes_before = StoreBytes(root);
  int64_t total = result.bytes_before;
  ASSIGN_OR_RETURN(std::vector<ImageObjects> images, StoredImages(root, store));
  const Live live = FindLive(root);
  for (const auto& [hex, n] : live.layers)
    result.bytes_in_use += DiskUsage(store.LayerDir({"sha256", hex}));

  std::vector<Candidate> candidates = Unreferenced(root, images, live);
  // Cache entries live mounts use (fs/cache_claim.h): not garbage; evicted
  // last, least recently used first, when --max-size asks for it (a mount
  // fetches again what it reads of them).
  std::vector<Candidate> live_caches;
  if (!options.keep_caches) {
    const fs::LiveCacheUse use = fs::ReadCacheClaims(root);
    const bool known = live.lazy_mounts <= use.claims && !use.unknown;
    if (!known) {
      result.notes.push_back(
          "chunks, spans and fetched runtime images kept: " + std::to_string(live.lazy_mounts) +
          " lazy mount(s) of this store are live and what they use of the "
          "caches is not known (a mount server older than this gc?)");
    }
    for (const Candidate& c : known ? CacheEntries(root) : std::vector<Candidate>()) {
      const std::string parent = BaseName(DirName(c.path));
      const std::string name = BaseName(c.path);
      const bool chunk = c.path.starts_with(fs::ChunksDir(root) + "/");
      const bool spans = parent == "spans";
      if (!chunk && !spans && live.lazy_mounts > 0) continue;  // fetched runtime images
      if (chunk && use.chunks.count(name)) {
        live_caches.push_back(c);
      } else if (spans && use.layers.count(name)) {
        // One span at a time: the least recently read go first.
        for (const std::string& span : Entries(c.path)) {
          const std::string file = JoinPath(c.path, span);
          live_caches.push_back({Candidate::kCache, file, DiskUsage(file), LastUsed(file)});
        }
      } else {
        candidates.push_back(c);
      }
    }
  }
  std::stable_sort(
      candidates.begin(), candidates.end(),
      [](const Candidate& a, const Candidate& b) { return a.last_used < b.last_used; });
  auto done = [&] { return options.max_size && total <= *options.max_size; };
  auto remove = [&](const Candidate& c) -> Status {
    if (!options.dry_run) RETURN_IF_ERROR(Remove(root, c));
    total -= c.bytes;
    if (c.kind == Candidate::kLayer) ++result.layers_removed;
    if (c.kind == Candidate::kBlob) ++result.blobs_removed;
    if (c.kind == Candidate::kCache) ++result.cache_entries_removed;
    return Status::Ok();
  };
  for (const Candidate& c : candidates) {
    if (done()) break;
    if (options.cancel && options.cancel->cancelled()) return Cancelled("gc cancelled");
    RETURN_IF_ERROR(remove(c));
  }
  // Past the garbage: whole images nothing runs, least recently used first.
  if (options.max_size && !done()) {
    std::vector<size_t> order(images.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return images[a].ref.mtime < images[b].ref.mtime; });
    std::vector<bool> removed(images.size(), false);
    for (size_t i : order) {
      if (done()) break;
      if (live.Running(images[i].layers) > 0) continue;
      if (!options.dry_run) RETURN_IF_ERROR(store.RemoveRef(images[i].ref.reference));
      result.images_removed.push_back(images[i].ref.reference);
      removed[i] = true;
      // Its objects that no image still stored names and no container holds.
      auto named = [&](const std::set<std::string> ImageObjects::*kind, const std::string& hex) {
        for (size_t k = 0; k < images.size(); ++k) {
          if (!removed[k] && (images[k].*kind).count(hex)) return true;
        }
        return false;
      };
      for (const std::string& hex : images[i].blobs) {
        const std::string path = store.BlobPath({"sha256", hex});
        if (named(&ImageObjects::blobs, hex) || !PathExists(path)) continue;
        RETURN_IF_ERROR(remove({Candidate::kBlob, path, DiskUsage(path), 0}));
      }
      for (const std::string& hex : images[i].layers) {
        const std::string path = store.LayerDir({"sha256", hex});
        if (named(&ImageObjects::layers, hex) || live.layers.count(hex) || !PathExists(path)) {
          continue;
        }
        RETURN_IF_ERROR(remove({Candidate::kLayer, path, DiskUsage(path), 0}));
      }
    }
    if (!done() && !live_caches.empty()) {
      std::stable_sort(
          live_caches.begin(), live_caches.end(),
          [](const Candidate& a, const Candidate& b) { return a.last_used < b.last_used; });
      int64_t evicted = 0;
      for (const Candidate& c : live_caches) {
        if (done()) break;
        if (options.cancel && options.cancel->cancelled()) return Cancelled("gc cancelled");
        RETURN_IF_ERROR(remove(c));
        ++evicted;
      }
      result.live_cache_entries_evicted = evicted;
      result.notes.push_back(std::to_string(evicted) +
                             " cache entries of live lazy mounts evicted, least recently used "
                             "first: those mounts fetch again what they read of them");
    }
    if (!done()) {
      result.notes.push_back("the store is still above " + std::to_string(*options.max_size) +
                             " bytes: what is left is in use (" + std::to_string(live.containers) +
                             " running container(s)" +
                             (live.lazy_mounts
                                  ? ", " + std::to_string(live.lazy_mounts) + " lazy mount(s)"
                                  : std::string()) +
                             ")");
    }
  }
  result.bytes_after = options.dry_run ? total : StoreBytes(root);
  return result;
}

}  // namespace

Result<GcResult> CollectGarbage(const std::string& root, const GcOptions& options) {
  ASSIGN_OR_RETURN(oci::LayerStore store, oci::LayerStore::Open(root));
  ASSIGN_OR_RETURN(UniqueFd lock, oci::LayerStore::LockForGc(root, options.cancel));
  return CollectLocked(root, store, options);
}

Result<GcResult> RemoveImages(const std::string& root, const std::vector<std::string>& references,
                              const CancelToken* cancel) {
  ASSIGN_OR_RETURN(oci::LayerStore store, oci::LayerStore::Open(root));
  ASSIGN_OR_RETURN(UniqueFd lock, oci::LayerStore::LockForGc(root, cancel));
  for (const std::string& ref : references) RETURN_IF_ERROR(store.RemoveRef(ref));
  GcOptions options;
  options.keep_caches = true;
  options.cancel = cancel;
  return CollectLocked(root, store, options);
}

}  // namespace syspgo::node
