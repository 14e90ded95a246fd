// SPDX-License-Identifier: Apache-2.0
// File: fs/mounted_image.h
//
// An image's root file system mounted lazily (docs/lazy-rootfs.md): the
// FUSE file system, where its bytes come from, and their threads, owned in
// one place. Modes:
//   lazy      every byte on demand from the original layers (checkpoint
//             index), the stargz/CRFS-style baseline;
//   prefetch  lazy, plus the whole files the trace touched fetched at mount
//             time in first-access order (the Nydus/eStargz prioritized
//             files baseline);
//   rtimage   the runtime image's blob streamed and pushed into the page
//             cache at mount time, the layers only for what it lacks.
//
// Threading: one thread drives a MountedImage; Stats() may be called from
// any thread.
#ifndef SYSPGO_FS_MOUNTED_IMAGE_H_
#define SYSPGO_FS_MOUNTED_IMAGE_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "fs/cache_claim.h"
#include "fs/fetch.h"
#include "fs/file_data.h"
#include "fs/image_fs.h"
#include "fs/image_tree.h"
#include "oci/manifest.h"
#include "rtimage/chunk_store.h"
#include "rtimage/format.h"
#include "rtimage/layer_index.h"

namespace syspgo::fs {

enum class LazyMode { kLazy, kPrefetch, kRuntimeImage };
std::string_view LazyModeName(LazyMode mode);
Result<LazyMode> ParseLazyMode(std::string_view name);

// What the registry gave for an image: its runtime image's metadata and
// index, and where the blob is.
struct LazySource {
  rtimage::Metadata metadata;
  // One per metadata layer; when empty, fetched from index_blob at the
  // first read the runtime image cannot answer.
  std::vector<rtimage::LayerIndex> indexes;
  oci::Descriptor index_blob;
  std::string repository;
  oci::Descriptor blob;
};

struct MountOptions {
  LazyMode mode = LazyMode::kRuntimeImage;
  int streams = 2;  // blob Range requests in parallel
  // How long a read waits for data on its way before it fails with EIO.
  std::chrono::milliseconds fetch_timeout{10000};
  // The node's caches: <cache_root>/chunks (chunk store), /spans (layer
  // spans of the fallback).
  std::string cache_root;
  ClientPool::Factory clients;
  ImageFsOptions fs;
  const Logger* log = nullptr;
};

class MountedImage {
 public:
  static Result<std::unique_ptr<MountedImage>> Mount(LazySource source, MountOptions options,
                                                     const std::string& dir);
  ~MountedImage();
  MountedImage(const MountedImage&) = delete;
  MountedImage& operator=(const MountedImage&) = delete;

  const std::string& dir() const { return fs_->dir(); }
  const rtimage::Metadata& metadata() const { return source_.metadata; }
  // Ends fetching; reads of what is local still work, others fail (EIO).
  void StopFetching();
  // StopFetching, then unmount (see ImageFs::Unmount). Idempotent.
  Status Stop(std::chrono::milliseconds wait = std::chrono::seconds(5));
  // Until every runtime image chunk was pushed (rtimage) or every traced
  // file fetched (prefetch); true at once in lazy mode.
  bool WaitSettled(std::chrono::milliseconds timeout);
  // The mount was taken away (umount by someone else, or the connection
  // aborted).
  bool ended() const { return fs_->ended(); }
  bool WaitEnded(std::chrono::milliseconds timeout) { return fs_->WaitEnded(timeout); }
  nlohmann::json Stats() const;

 private:
  MountedImage(LazySource source, MountOptions options)
      : source_(std::move(source)), options_(std::move(options)) {}
  void PrefetchLoop();

  LazySource source_;
  MountOptions options_;
  std::unique_ptr<ImageTree> tree_;
  std::unique_ptr<rtimage::ChunkStore> chunks_;
  std::unique_ptr<LayerFetcher> fallback_;
  std::unique_ptr<RuntimePageCache> page_cache_;  // rtimage mode only
  std::unique_ptr<FileData> data_;
  std::unique_ptr<ImageFs> fs_;
  // What this mount uses of the caches, for the garbage collector
  // (fs/cache_claim.h); released when it is unmounted.
  CacheClaim claim_;
  std::thread prefetch_;
  std::atomic<bool> stop_prefetch_{false};
  std::atomic<bool> prefetch_done_{false};
  std::atomic<int64_t> prefetch_files_{0};
  std::atomic<int64_t> prefetch_errors_{0};
  int64_t mounted_ns_ = 0;
  std::atomic<int64_t> prefetch_done_ns_{-1};
};

// A directory for a mount of syspgo's own: <root>/mounts/<id>/ with `lock`
// (flock'd while the owner lives) and `mnt`. Removed on destruction (after
// the mount is gone); one left by a dead process is removed, and its mount
// detached, by CleanupStaleMounts.
class MountDir {
 public:
  static Result<MountDir> Create(const std::string& root);
  // At a fixed directory (a shared mount's); fails when its lock is held.
  static Result<MountDir> CreateAt(const std::string& dir);
  MountDir() = default;
  MountDir(MountDir&&) = default;
  MountDir& operator=(MountDir&&) = default;
  ~MountDir();
  const std::string& mnt() const { return mnt_; }

 private:
  std::string dir_;
  std::string mnt_;
  UniqueFd lock_;
};
// Detaches and removes mounts under <root>/mounts whose owner died (its
// lock is free).
void CleanupStaleMounts(const std::string& root, const Logger* log);
// Detaches dir/mnt if it is mounted and removes dir (its owner is gone).
void RemoveStaleMountDir(const std::string& dir, const Logger* log);

}  // namespace syspgo::fs

#endif  // SYSPGO_FS_MOUNTED_IMAGE_H_
