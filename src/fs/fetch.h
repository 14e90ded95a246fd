// SPDX-License-Identifier: Apache-2.0
// File: fs/fetch.h
//
// Where the lazy root file system's bytes come from (docs/lazy-rootfs.md):
//   RuntimePageCache  the runtime image's blob, streamed with a few large
//                     Range requests at mount time, each chunk verified on
//                     arrival, handed to a push function (the kernel's page
//                     cache), then written to the node's chunk store and
//                     dropped from memory.
//   LayerFetcher      the fallback: any range of any file, fetched from its
//                     original layer through the checkpoint index (one Range
//                     request, inflated from the nearest checkpoint) and kept
//                     on disk in spans of the layer; concurrent misses of a
//                     span fetch it once; served only in pieces verified
//                     against the metadata's piece digests.
// Both fetch through a BlobSource (the registry, or a fake in tests).
// Neither depends on FUSE. Both are thread-safe.
#ifndef SYSPGO_FS_FETCH_H_
#define SYSPGO_FS_FETCH_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/cancel.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "oci/manifest.h"
#include "oci/registry_client.h"
#include "rtimage/chunk_store.h"
#include "rtimage/format.h"
#include "rtimage/layer_index.h"

namespace syspgo::fs {

// Registry clients for worker threads (a RegistryClient serves one thread
// at a time), with one set of counters and one cancellation for all. The
// factory makes a client that honours `cancel` and counts into `counters`.
class ClientPool {
 public:
  using Factory = std::function<Result<oci::RegistryClient>(const CancelToken* cancel,
                                                            oci::TransferCounters* counters)>;
  explicit ClientPool(Factory factory) : factory_(std::move(factory)) {}

  // Runs fn with a client of its own; the client goes back to the pool.
  Status With(const std::function<Status(oci::RegistryClient&)>& fn);
  // Aborts transfers in progress; later ones fail at once.
  void Cancel() { cancel_.Cancel(); }
  bool cancelled() const { return cancel_.cancelled(); }
  const oci::TransferCounters& counters() const { return counters_; }

 private:
  Factory factory_;
  CancelToken cancel_;
  oci::TransferCounters counters_;
  std::mutex mu_;  // guards idle_
  std::vector<std::unique_ptr<oci::RegistryClient>> idle_;
};

// Where a mount's remote bytes come from: ranges of the blobs of one
// repository. RegistryBlobSource is the real one; the fetch tests use a
// fake that counts requests and injects failures. Thread-safe.
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  // Streams bytes [offset, offset+length) of blob `digest` to sink, in
  // order: exactly length bytes, or an error. Not verified here.
  virtual Status Fetch(const oci::Digest& digest, uint64_t offset, uint64_t length,
                       const oci::BodySink& sink) = 0;
  // A whole small blob, verified against its descriptor (digest, size).
  virtual Result<std::string> FetchSmall(const oci::Descriptor& blob) = 0;
  // Aborts fetches in progress; later ones fail at once with kCancelled.
  virtual void Cancel() = 0;
  // Requests sent and bytes received.
  virtual const oci::TransferCounters& counters() const = 0;
};

class RegistryBlobSource final : public BlobSource {
 public:
  RegistryBlobSource(std::string repository, ClientPool::Factory clients)
      : repository_(std::move(repository)), pool_(std::move(clients)) {}
  Status Fetch(const oci::Digest& digest, uint64_t offset, uint64_t length,
               const oci::BodySink& sink) override;
  Result<std::string> FetchSmall(const oci::Descriptor& blob) override;
  void Cancel() override { pool_.Cancel(); }
  const oci::TransferCounters& counters() const override { return pool_.counters(); }

 private:
  std::string repository_;
  ClientPool pool_;
};

// Single-flight bookkeeping: the first caller of a key fetches it, later
// callers wait for the outcome.
class FlightTable {
 public:
  // True when the caller now owns `key` and must call Finish(key, ...).
  bool Claim(const std::string& key);
  void Finish(const std::string& key, const Status& outcome);
  // Waits until `key` is not in flight; its outcome (Ok when never claimed).
  Status Wait(const std::string& key);

 private:
  std::mutex mu_;  // guards flights_
  std::condition_variable cv_;
  struct Flight {
    bool done = false;
    Status outcome;
    int waiters = 0;
  };
  std::map<std::string, Flight> flights_;
};

struct FallbackCounters {
  std::atomic<int64_t> fetches{0};  // Range requests made
  std::atomic<int64_t> compressed_bytes{0};
  std::atomic<int64_t> spans_fetched{0};     // asked for
  std::atomic<int64_t> spans_extra{0};       // inflated on the way, kept for free
  std::atomic<int64_t> spans_local{0};       // found on disk
  std::atomic<int64_t> pieces_verified{0};   // hashed and equal to their digest
  std::atomic<int64_t> pieces_failed{0};     // hashed and not equal: never served
  std::atomic<int64_t> piece_cache_hits{0};  // served from the verified pieces in memory
};

struct FallbackOptions {
  // Verified pieces kept in memory (most recently used), so that reads
  // smaller than a piece hash it once.
  uint64_t piece_cache_bytes = 16 << 20;
  // A failed fetch of the checkpoint index is not repeated for this long
  // (a corrupt one never).
  std::chrono::milliseconds index_backoff{10000};
};

// The fallback works on spans of a layer's uncompressed stream (its tar):
// a miss fetches the spans it needs with one Range request from the
// nearest checkpoint, and every whole span the inflation yields on the way
// is kept too (neighbouring files are often read next), on disk under
// <cache_dir>/<layer hex>/<span>.
//
// Nothing from a span reaches a reader unchecked: file bytes are served in
// pieces (Metadata::piece_size), each hashed and compared with its digest
// from the metadata before any byte of it is served, whichever span or
// fetch it came from. A piece that fails stays failed: its reads fail
// (kCorruption, EIO to the kernel) for the life of the fetcher, and its
// spans are removed from disk.
class LayerFetcher {
 public:
  static constexpr uint64_t kSpanSize = 1 << 20;
  static constexpr uint64_t kMaxSpansPerFetch = 16;
  // Inflated bytes kept beyond the asked-for range, at most, each side.
  static constexpr uint64_t kMaxExtraBytes = 32 << 20;
  // A piece whose spans are not all on disk fetches them and the file's
  // spans this far past it, in the same request.
  static constexpr uint64_t kFileAhead = 4 << 20;

  // metadata and log outlive the fetcher. Without `indexes`, they are
  // fetched from `index_blob` at the first miss.
  LayerFetcher(const rtimage::Metadata* metadata, std::vector<rtimage::LayerIndex> indexes,
               oci::Descriptor index_blob, std::unique_ptr<BlobSource> source,
               std::string cache_dir, const Logger* log, FallbackOptions options = {});

  // Bytes [offset, offset+length) of content `content` (clamped to its
  // size), from verified pieces only.
  Result<std::string> Read(uint32_t content, uint64_t offset, uint64_t length);
  // Brings the whole content to disk and verifies every piece (prefetch);
  // reads still verify what they serve.
  Status Fetch(uint32_t content);
  // From now on every fetch fails, and fetches in progress are aborted
  // (reads of what is on disk still work).
  void Disable() { source_->Cancel(); }
  const FallbackCounters& counters() const { return counters_; }
  const oci::TransferCounters& registry() const { return source_->counters(); }

 private:
  using PieceKey = std::pair<uint32_t, uint64_t>;  // content, piece
  using PieceBytes = std::shared_ptr<const std::string>;

  std::string SpanPath(uint32_t layer, uint64_t span) const;
  std::string SpanKey(uint32_t layer, uint64_t span) const;
  uint64_t LayerSize(uint32_t layer) const { return metadata_->layers[layer].uncompressed_size; }
  // Bytes [offset, offset+length) of a layer's tar, fetching missing spans.
  // Not verified: only Piece() may hand them on.
  Result<std::string> ReadLayer(uint32_t layer, uint64_t offset, uint64_t length);
  Status EnsureSpans(uint32_t layer, uint64_t first, uint64_t last);
  // Fetches spans [first, last] (claimed by the caller) with one request.
  Status FetchSpans(uint32_t layer, uint64_t first, uint64_t last);
  // The index of a layer, fetched on first use.
  Result<const rtimage::LayerIndex*> IndexOf(uint32_t layer);
  // A piece's verified bytes (from memory, or read and hashed); `cache`:
  // keep them in memory.
  Result<PieceBytes> Piece(uint32_t content, uint64_t piece, bool cache);
  // Hashes a piece's bytes against its digest; a mismatch fails the piece
  // for good and removes the spans it came from.
  Status VerifyPiece(uint32_t content, uint64_t piece, std::string_view bytes);
  Status FailedPiece(uint32_t content, uint64_t piece);

  const rtimage::Metadata* metadata_;
  std::unique_ptr<BlobSource> source_;
  std::string cache_dir_;
  const Logger* log_;
  FallbackOptions options_;
  FlightTable flights_;
  FallbackCounters counters_;

  std::mutex index_mu_;  // guards indexes_, index_error_, index_retry_at_
  std::vector<rtimage::LayerIndex> indexes_;
  oci::Descriptor index_blob_;
  Status index_error_;  // the last failed fetch of the index
  SteadyClock::time_point index_retry_at_{};

  std::mutex pieces_mu_;  // guards failed_, lru_, cached_, cached_bytes_
  std::map<PieceKey, Status> failed_;
  std::list<std::pair<PieceKey, PieceBytes>> lru_;  // most recent first
  std::map<PieceKey, std::list<std::pair<PieceKey, PieceBytes>>::iterator> cached_;
  uint64_t cached_bytes_ = 0;
};

// Cuts a stream of blob bytes that starts at chunks[first].blob_offset into
// the chunks first..last (their stored bytes, compressed or not), whatever
// the sizes of the pieces it is fed.
class ChunkSlicer {
 public:
  ChunkSlicer(const std::vector<rtimage::Chunk>* chunks, uint32_t first, uint32_t last)
      : chunks_(chunks), next_(first), last_(last), base_((*chunks)[first].blob_offset) {}
  // Calls on_chunk(index, bytes) for every chunk the data completes.
  void Feed(std::string_view data, const std::function<void(uint32_t, std::string_view)>& on_chunk);
  // The chunk the stream is in (last + 1 when all are complete).
  uint32_t next() const { return next_; }

 private:
  const std::vector<rtimage::Chunk>* chunks_;
  uint32_t next_;
  uint32_t last_;
  // Without pending bytes, the blob offset of the next byte fed; with
  // them, the offset of chunk next_, whose first bytes pending_ holds.
  uint64_t base_;
  std::string pending_;
};

// Puts file bytes into the kernel's page cache of the file holding
// `content` (FUSE notify_store). Called from one thread.
using PushFunction =
    std::function<Status(uint32_t content, uint64_t file_offset, std::string_view data)>;

struct PageCacheOptions {
  int streams = 2;  // parallel Range requests over the blob
  // How long a read waits for a chunk that is on its way.
  std::chrono::milliseconds fetch_timeout{10000};
  // Writing fetched chunks to the chunk store waits until the start is
  // over, so its file system work does not take CPU from the container:
  // until store_delay after every chunk was pushed, or more than
  // store_hold_bytes wait in memory, or Stop.
  std::chrono::milliseconds store_delay{2000};
  uint64_t store_hold_bytes = 256ull << 20;
};

struct PageCacheCounters {
  std::atomic<int64_t> chunks_local{0};    // in the chunk store at start
  std::atomic<int64_t> chunks_fetched{0};  // arrived and verified
  std::atomic<int64_t> chunks_failed{0};   // failed verification or never came
  std::atomic<int64_t> chunks_pushed{0};
  std::atomic<int64_t> chunks_stored{0};  // written to the chunk store
  std::atomic<int64_t> bytes_pushed{0};
  std::atomic<int64_t> push_errors{0};
  std::atomic<int64_t> requests{0};        // blob Range requests
  std::atomic<int64_t> waits{0};           // reads that waited for in-flight data
  std::atomic<int64_t> first_push_ns{-1};  // since Start
  std::atomic<int64_t> settled_ns{-1};     // every chunk pushed or failed
};

class RuntimePageCache {
 public:
  // metadata, store and log outlive the cache; `blob` is the runtime
  // image's blob in `source`.
  RuntimePageCache(const rtimage::Metadata* metadata, oci::Descriptor blob,
                   rtimage::ChunkStore* store, std::unique_ptr<BlobSource> source,
                   PushFunction push, PageCacheOptions options, const Logger* log);
  ~RuntimePageCache();

  // Starts the streams (for chunks the store lacks): they may run before
  // the file system is mounted.
  Status Start();
  // Starts pushing what arrived and arrives (after Start, once push works).
  void StartPushing();
  // A chunk's verified bytes: from memory, from the chunk store, or after
  // waiting for its stream (bounded by fetch_timeout). Not kOk when the
  // chunk failed or did not come in time: the caller falls back.
  Result<std::string> ReadChunk(uint32_t chunk);
  // Ends the streams and the pusher; ReadChunk still serves what is local.
  void Stop();
  // True once every chunk was pushed or failed.
  bool WaitSettled(std::chrono::milliseconds timeout);
  const PageCacheCounters& counters() const { return counters_; }
  const oci::TransferCounters& registry() const { return source_->counters(); }

 private:
  enum class State : uint8_t { kMissing, kInMemory, kStored, kFailed };
  // Fetches runs of chunks (first, last index), in order.
  void StreamLoop(const std::vector<std::pair<uint32_t, uint32_t>>& runs);
  Status StreamRun(uint32_t first, uint32_t last);
  // A chunk's bytes arrived from a stream: verified, then kept for the
  // pusher, or failed.
  void OnChunkArrived(uint32_t chunk, std::string_view data);
  void PushLoop();
  // Writes pushed chunks to the chunk store at low CPU priority once the
  // start is over (PageCacheOptions), then drops them from memory.
  void StoreLoop();
  // The storer may write now, or wait until *until (nullopt: a wakeup);
  // with mu_ held.
  bool StoreMayRunLocked(std::optional<SteadyClock::time_point>* until) const;
  void Settle(uint32_t chunk, State state, std::string data);
  // One chunk was pushed or failed; with mu_ held.
  void SettledOneLocked();
  void FailRemaining(uint32_t first, uint32_t last, const Status& why);

  const rtimage::Metadata* metadata_;
  oci::Descriptor blob_;
  rtimage::ChunkStore* store_;
  std::unique_ptr<BlobSource> source_;
  PushFunction push_;
  PageCacheOptions options_;
  const Logger* log_;
  int64_t start_ns_ = 0;
  // users_[chunk]: (content, file offset) pairs that hold the chunk's bytes.
  std::vector<std::vector<std::pair<uint32_t, uint64_t>>> users_;

  std::mutex mu_;  // guards state_, data_, push_queue_, store_queue_, queued_for_store_,
  // unsettled_, settled_at_, bytes_to_store_, stopping_, store_stop_
  std::condition_variable cv_;
  std::vector<State> state_;
  // kInMemory chunks, until pushed and stored.
  std::vector<std::shared_ptr<const std::string>> data_;
  std::deque<uint32_t> push_queue_;
  std::deque<uint32_t> store_queue_;
  std::vector<bool> queued_for_store_;
  size_t unsettled_ = 0;  // chunks neither pushed nor failed
  std::optional<SteadyClock::time_point> settled_at_;
  uint64_t bytes_to_store_ = 0;  // of the chunks in store_queue_
  bool stopping_ = false;
  bool store_stop_ = false;  // the storer drains its queue and ends

  std::vector<std::thread> streams_;
  std::thread pusher_;
  std::thread storer_;
  PageCacheCounters counters_;
};

}  // namespace syspgo::fs

#endif  // SYSPGO_FS_FETCH_H_
