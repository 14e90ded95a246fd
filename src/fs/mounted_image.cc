// SPDX-License-Identifier: Apache-2.0
#include "fs/mounted_image.h"

#include "common/sha256.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "common/clock.h"
#include "common/file_lock.h"
#include "common/file_util.h"
#include "fs/cache_layout.h"

namespace syspgo::fs {

std::string_view LazyModeName(LazyMode mode) {
  switch (mode) {
    case LazyMode::kLazy:
      return "lazy";
    case LazyMode::kPrefetch:
      return "prefetch";
    case LazyMode::kRuntimeImage:
      return "rtimage";
  }
  return "?";
}

Result<LazyMode> ParseLazyMode(std::string_view name) {
  for (LazyMode m : {LazyMode::kLazy, LazyMode::kPrefetch, LazyMode::kRuntimeImage}) {
    if (LazyModeName(m) == name) return m;
  }
  return InvalidArgument("unknown mode '" + std::string(name) +
                         "' (want lazy, prefetch or rtimage)");
}

Result<std::unique_ptr<MountedImage>> MountedImage::Mount(LazySource source, MountOptions options,
                                                          const std::string& dir) {
  if (!source.indexes.empty() && source.indexes.size() != source.metadata.layers.size()) {
    return Corruption("the runtime image index has " + std::to_string(source.indexes.size()) +
                      " layers, its metadata " + std::to_string(source.metadata.layers.size()));
  }
  if (options.mode == LazyMode::kRuntimeImage) {
    // A read that comes before its pages were pushed asks for exactly its
    // pages (which the runtime image has), not for a readahead window
    // beyond what the trace saw.
    options.fs.max_readahead = 0;
  }
  // The caches hold image bytes: as private as the store.
  RETURN_IF_ERROR(MakePrivateDir(SpansDir(options.cache_root)));
  std::unique_ptr<MountedImage> m(new MountedImage(std::move(source), std::move(options)));
  const MountOptions& o = m->options_;
  const rtimage::Metadata* metadata = &m->source_.metadata;
  MountedImage* self = m.get();
  if (o.mode == LazyMode::kRuntimeImage) {
    // The blob streams start first: they need no tree and no mount (what
    // arrives waits in memory until the mount can take pushes).
    ASSIGN_OR_RETURN(rtimage::ChunkStore store, rtimage::ChunkStore::Open(ChunksDir(o.cache_root)));
    m->chunks_ = std::make_unique<rtimage::ChunkStore>(std::move(store));
    PageCacheOptions pc;
    pc.streams = o.streams;
    pc.fetch_timeout = o.fetch_timeout;
    m->page_cache_ = std::make_unique<RuntimePageCache>(
        metadata, m->source_.blob, m->chunks_.get(),
        std::make_unique<RegistryBlobSource>(m->source_.repository, o.clients),
        [self](uint32_t content, uint64_t offset, std::string_view data) {
          return self->fs_->Push(content, offset, data);
        },
        pc, o.log);
    RETURN_IF_ERROR(m->page_cache_->Start());
  }
  ASSIGN_OR_RETURN(ImageTree tree, ImageTree::Build(metadata));
  m->tree_ = std::make_unique<ImageTree>(std::move(tree));
  m->fallback_ = std::make_unique<LayerFetcher>(
      metadata, std::move(m->source_.indexes), m->source_.index_blob,
      std::make_unique<RegistryBlobSource>(m->source_.repository, o.clients),
      SpansDir(o.cache_root), o.log);
  m->data_ =
      std::make_unique<FileData>(m->tree_.get(), m->page_cache_.get(), m->fallback_.get(), o.log);
  ASSIGN_OR_RETURN(m->fs_, ImageFs::Mount(m->tree_.get(), m->data_.get(), dir, o.fs, o.log));
  m->mounted_ns_ = static_cast<int64_t>(MonotonicNs());
  {
    std::vector<std::string> chunk_hexes, layer_hexes;
    if (o.mode == LazyMode::kRuntimeImage) {
      for (const rtimage::Chunk& c : metadata->chunks)
        chunk_hexes.push_back(Sha256::ToHex(c.digest));
    }
    for (const auto& l : metadata->layers)
      layer_hexes.push_back(l.digest.substr(l.digest.find(':') + 1));
    auto claim = CacheClaim::Write(o.cache_root, dir, chunk_hexes, layer_hexes);
    if (claim.ok()) {
      m->claim_ = std::move(*claim);
    } else if (o.log) {
      // gc then keeps every cache while this mount lives (it cannot tell
      // what the mount uses).
      o.log->Warning("cache claim: " + claim.status().message());
    }
  }
  if (m->page_cache_) m->page_cache_->StartPushing();
  if (o.mode == LazyMode::kPrefetch) {
    m->prefetch_ = std::thread([self] { self->PrefetchLoop(); });
  } else {
    m->prefetch_done_ = true;
  }
  return m;
}

MountedImage::~MountedImage() {
  Status st = Stop();
  if (!st.ok() && options_.log) options_.log->Warning(st.message());
}

void MountedImage::PrefetchLoop() {
  // The traced files (those with extents), in the order of their first
  // access (their first chunk's place in the blob).
  const rtimage::Metadata& m = source_.metadata;
  std::vector<std::pair<uint32_t, uint32_t>> order;  // first chunk, content
  for (size_t c = 0; c < m.contents.size(); ++c) {
    const auto& extents = m.contents[c].extents;
    if (extents.empty()) continue;
    uint32_t first = extents[0].chunk;
    for (const rtimage::Extent& e : extents) first = std::min(first, e.chunk);
    order.emplace_back(first, static_cast<uint32_t>(c));
  }
  std::sort(order.begin(), order.end());
  for (const auto& [first, content] : order) {
    if (stop_prefetch_) break;
    Status st = fallback_->Fetch(content);
    ++prefetch_files_;
    if (!st.ok()) {
      ++prefetch_errors_;
      if (options_.log && st.code() != StatusCode::kCancelled) {
        options_.log->Warning("prefetch of " + m.entries[tree_->EntryOfContent(content)].path +
                              ": " + st.message());
      }
    }
  }
  prefetch_done_ns_ = static_cast<int64_t>(MonotonicNs()) - mounted_ns_;
  prefetch_done_ = true;
}

void MountedImage::StopFetching() {
  stop_prefetch_ = true;
  if (fallback_) fallback_->Disable();
  if (page_cache_) page_cache_->Stop();
  if (prefetch_.joinable()) prefetch_.join();
}

Status MountedImage::Stop(std::chrono::milliseconds wait) {
  StopFetching();
  if (!fs_) return Status::Ok();
  Status st = fs_->Unmount(wait);
  if (st.ok()) claim_.Release();
  return st;
}

bool MountedImage::WaitSettled(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  if (page_cache_ && !page_cache_->WaitSettled(timeout)) return false;
  while (!prefetch_done_) {
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

nlohmann::json MountedImage::Stats() const {
  auto seconds = [](int64_t ns) -> nlohmann::json {
    if (ns < 0) return nullptr;
    return static_cast<double>(ns) / 1e9;
  };
  const ReadCounters& r = data_->counters();
  const FsCounters& f = fs_->counters();
  const FallbackCounters& fb = fallback_->counters();
  nlohmann::json j;
  j["mode"] = LazyModeName(options_.mode);
  j["fuse"] = {{"reads", r.reads.load()},
               {"bytes_runtime_image", r.bytes_runtime_image.load()},
               {"bytes_fallback", r.bytes_fallback.load()},
               {"misses", r.misses.load()},
               {"errors", r.errors.load()},
               {"lookups", f.lookups.load()},
               {"negative_lookups", f.negative_lookups.load()},
               {"getattrs", f.getattrs.load()},
               {"readdirs", f.readdirs.load()},
               {"readlinks", f.readlinks.load()},
               {"xattr_requests", f.xattr_requests.load()},
               {"opens", f.opens.load()}};
  j["misses_by_file"] = data_->MissesByFile();
  j["fallback"] = {{"requests", fallback_->registry().requests.load()},
                   {"bytes", fallback_->registry().bytes.load()},
                   {"range_fetches", fb.fetches.load()},
                   {"compressed_bytes", fb.compressed_bytes.load()},
                   {"spans_fetched", fb.spans_fetched.load()},
                   {"spans_extra", fb.spans_extra.load()},
                   {"spans_local", fb.spans_local.load()},
                   {"pieces_verified", fb.pieces_verified.load()},
                   {"pieces_failed", fb.pieces_failed.load()},
                   {"piece_cache_hits", fb.piece_cache_hits.load()}};
  if (page_cache_) {
    const PageCacheCounters& p = page_cache_->counters();
    j["page_cache"] = {{"chunks", source_.metadata.chunks.size()},
                       {"chunks_local", p.chunks_local.load()},
                       {"chunks_fetched", p.chunks_fetched.load()},
                       {"chunks_failed", p.chunks_failed.load()},
                       {"chunks_pushed", p.chunks_pushed.load()},
                       {"chunks_stored", p.chunks_stored.load()},
                       {"bytes_pushed", p.bytes_pushed.load()},
                       {"push_errors", p.push_errors.load()},
                       {"reads_waited", p.waits.load()},
                       {"first_push_s", seconds(p.first_push_ns.load())},
                       {"settled_s", seconds(p.settled_ns.load())},
                       {"requests", page_cache_->registry().requests.load()},
                       {"bytes", page_cache_->registry().bytes.load()}};
  }
  if (options_.mode == LazyMode::kPrefetch) {
    j["prefetch"] = {{"files", prefetch_files_.load()},
                     {"errors", prefetch_errors_.load()},
                     {"done_s", seconds(prefetch_done_ns_.load())}};
  }
  return j;
}

// ---- MountDir

namespace {

std::string MountsDir(const std::string& root) { return JoinPath(root, "mounts"); }

// Detaches a mount at `mnt` if there is one and removes `dir`.
void RemoveMountDir(const std::string& dir, const std::string& mnt, const Logger* log) {
  if (IsFuseMount(mnt) && ::umount2(mnt.c_str(), MNT_DETACH) != 0 && log) {
    log->Warning(ErrnoStatus(errno, "umount", mnt).message());
  }
  Status st = RemoveTree(dir);
  if (!st.ok() && log) log->Warning(st.message());
}

}  // namespace

void RemoveStaleMountDir(const std::string& dir, const Logger* log) {
  RemoveMountDir(dir, JoinPath(dir, "mnt"), log);
}

Result<MountDir> MountDir::Create(const std::string& root) {
  RETURN_IF_ERROR(MakePrivateDir(MountsDir(root)));
  std::random_device rd;
  char id[32];
  std::snprintf(id, sizeof(id), "m-%08x", std::uniform_int_distribution<uint32_t>()(rd));
  const std::string dir = JoinPath(MountsDir(root), id);
  if (::mkdir(dir.c_str(), 0700) != 0) return ErrnoStatus(errno, "mkdir", dir);
  return CreateAt(dir);
}

Result<MountDir> MountDir::CreateAt(const std::string& dir) {
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  MountDir d;
  ASSIGN_OR_RETURN(UniqueFd lock, UniqueFd::Open(JoinPath(dir, "lock"), O_RDWR | O_CREAT, 0600));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return FailedPrecondition(dir + " is in use by another syspgo");
    return ErrnoStatus(errno, "lock", dir);
  }
  d.lock_ = std::move(lock);
  d.dir_ = dir;
  d.mnt_ = JoinPath(dir, "mnt");
  if (::mkdir(d.mnt_.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir", d.mnt_);
  }
  return d;
}

MountDir::~MountDir() {
  if (!dir_.empty()) RemoveMountDir(dir_, mnt_, nullptr);
}

void CleanupStaleMounts(const std::string& root, const Logger* log) {
  // Private mounts (syspgo run --mode lazy|prefetch, syspgo mount DIR):
  // each directory has a lock its live owner holds. The node's shared
  // mounts are node::SharedMounts'.
  for (const char* kind : {"mounts"}) {
    const std::string parent = JoinPath(root, kind);
    auto names = ListDir(parent);
    if (!names.ok()) continue;
    for (const std::string& name : *names) {
      const std::string dir = JoinPath(parent, name);
      const TriedLock lock = TryLockFile(JoinPath(dir, "lock"));
      if (lock.held()) continue;  // in use
      if (log) log->Info("removing the mount left by a dead process: " + dir);
      RemoveMountDir(dir, JoinPath(dir, "mnt"), log);
    }
  }
}

}  // namespace syspgo::fs
