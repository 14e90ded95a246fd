// SPDX-License-Identifier: Apache-2.0
#include "fs/fetch.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/unique_fd.h"

namespace syspgo::fs {

// ---- ClientPool

Status ClientPool::With(const std::function<Status(oci::RegistryClient&)>& fn) {
  if (cancel_.cancelled()) return Cancelled("fetching has stopped");
  std::unique_ptr<oci::RegistryClient> client;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      client = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!client) {
    ASSIGN_OR_RETURN(oci::RegistryClient made, factory_(&cancel_, &counters_));
    client = std::make_unique<oci::RegistryClient>(std::move(made));
  }
  Status st = fn(*client);
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(client));
  return st;
}

// ---- FlightTable

bool FlightTable::Claim(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  return flights_.try_emplace(key).second;
}

void FlightTable::Finish(const std::string& key, const Status& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = flights_.find(key);
  if (it == flights_.end()) return;
  it->second.done = true;
  it->second.outcome = outcome;
  cv_.notify_all();
  // Waiters copy the outcome before the entry goes; the last one erases it.
  if (it->second.waiters == 0) flights_.erase(it);
}

Status FlightTable::Wait(const std::string& key) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = flights_.find(key);
  if (it == flights_.end()) return Status::Ok();
  ++it->second.waiters;
  cv_.wait(lock, [&] { return it->second.done; });
  Status outcome = it->second.outcome;
  if (--it->second.waiters == 0) flights_.erase(it);
  return outcome;
}

// ---- RegistryBlobSource

Status RegistryBlobSource::Fetch(const oci::Digest& digest, uint64_t offset, uint64_t length,
                                 const oci::BodySink& sink) {
  return pool_.With([&](oci::RegistryClient& client) {
    return client.FetchBlob(repository_, digest, static_cast<int64_t>(offset), sink,
                            static_cast<int64_t>(length));
  });
}

Result<std::string> RegistryBlobSource::FetchSmall(const oci::Descriptor& blob) {
  std::string bytes;
  RETURN_IF_ERROR(pool_.With([&](oci::RegistryClient& client) -> Status {
    ASSIGN_OR_RETURN(bytes, client.FetchSmallBlob(repository_, blob));
    return Status::Ok();
  }));
  return bytes;
}

// ---- LayerFetcher

LayerFetcher::LayerFetcher(const rtimage::Metadata* metadata,
                           std::vector<rtimage::LayerIndex> indexes, oci::Descriptor index_blob,
                           std::unique_ptr<BlobSource> source, std::string cache_dir,
                           const Logger* log, FallbackOptions options)
    : metadata_(metadata),
      source_(std::move(source)),
      cache_dir_(std::move(cache_dir)),
      log_(log),
      options_(options),
      indexes_(std::move(indexes)),
      index_blob_(std::move(index_blob)) {}

std::string LayerFetcher::SpanKey(uint32_t layer, uint64_t span) const {
  const std::string& digest = metadata_->layers[layer].digest;
  return digest.substr(digest.find(':') + 1) + "/" + std::to_string(span);
}

std::string LayerFetcher::SpanPath(uint32_t layer, uint64_t span) const {
  return JoinPath(cache_dir_, SpanKey(layer, span));
}

Result<const rtimage::LayerIndex*> LayerFetcher::IndexOf(uint32_t layer) {
  // One fetch at a time: concurrent misses wait for it. A failure is
  // remembered, so that misses during a registry outage fail at once
  // instead of each waiting for a fetch of their own.
  std::lock_guard<std::mutex> lock(index_mu_);
  if (!indexes_.empty()) return &indexes_[layer];
  if (!index_error_.ok() &&
      (index_error_.code() == StatusCode::kCorruption || SteadyClock::now() < index_retry_at_)) {
    return index_error_;
  }
  auto fetched = [&]() -> Result<std::vector<rtimage::LayerIndex>> {
    ASSIGN_OR_RETURN(std::string bytes, source_->FetchSmall(index_blob_));
    ASSIGN_OR_RETURN(std::vector<rtimage::LayerIndex> indexes, rtimage::DecodeLayerIndexes(bytes));
    if (indexes.size() != metadata_->layers.size()) {
      return Corruption("the runtime image index has " + std::to_string(indexes.size()) +
                        " layers, its metadata " + std::to_string(metadata_->layers.size()));
    }
    return indexes;
  }();
  if (!fetched.ok()) {
    if (fetched.status().code() != StatusCode::kCancelled) {
      index_error_ = fetched.status().WithContext("the checkpoint index");
      index_retry_at_ = SteadyClock::now() + options_.index_backoff;
    }
    return fetched.status().WithContext("the checkpoint index");
  }
  indexes_ = std::move(*fetched);
  index_error_ = Status::Ok();
  return &indexes_[layer];
}

Status LayerFetcher::FetchSpans(uint32_t layer, uint64_t first, uint64_t last) {
  const rtimage::LayerInfo& info = metadata_->layers[layer];
  ASSIGN_OR_RETURN(const rtimage::LayerIndex* index_ptr, IndexOf(layer));
  const rtimage::LayerIndex& index = *index_ptr;
  const uint64_t size = LayerSize(layer);
  const uint64_t begin = first * kSpanSize;
  const uint64_t end = std::min(size, (last + 1) * kSpanSize);
  ASSIGN_OR_RETURN(rtimage::RangePlan plan, rtimage::PlanRange(index, begin, end - begin));
  ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(info.digest));
  std::string compressed;
  compressed.reserve(plan.compressed_end - plan.compressed_begin);
  RETURN_IF_ERROR(source_->Fetch(digest, plan.compressed_begin,
                                 plan.compressed_end - plan.compressed_begin,
                                 [&](std::span<const char> bytes) -> Status {
                                   compressed.append(bytes.data(), bytes.size());
                                   return Status::Ok();
                                 }));
  if (compressed.size() != plan.compressed_end - plan.compressed_begin) {
    return Corruption("layer " + info.digest + ": range at " +
                      std::to_string(plan.compressed_begin) + " returned " +
                      std::to_string(compressed.size()) + " bytes");
  }
  ++counters_.fetches;
  counters_.compressed_bytes += static_cast<int64_t>(compressed.size());
  // What these compressed bytes inflate to: from the starting checkpoint to
  // the checkpoint where they end. Whole spans of it are kept, within
  // kMaxExtraBytes of the asked-for range.
  uint64_t avail_begin = begin, avail_end = end;
  if (index.access != rtimage::LayerAccess::kUncompressed) {
    avail_begin = plan.from_start ? 0 : index.points[plan.point].out;
    avail_end = size;
    if (plan.compressed_end < index.compressed_size) {
      avail_end = end;
      for (const rtimage::AccessPoint& p : index.points) {
        if (p.in == plan.compressed_end && p.out >= end) {
          avail_end = p.out;
          break;
        }
      }
    }
  }
  const uint64_t lo = begin > kMaxExtraBytes ? begin - kMaxExtraBytes : 0;
  uint64_t wide_begin = std::max((avail_begin + kSpanSize - 1) / kSpanSize * kSpanSize, lo);
  wide_begin = std::min(wide_begin / kSpanSize * kSpanSize, begin);
  uint64_t wide_end = avail_end == size ? size : avail_end / kSpanSize * kSpanSize;
  wide_end = std::max(std::min(wide_end, end + kMaxExtraBytes), end);
  auto data = rtimage::ExtractRange(index, plan, compressed, wide_begin, wide_end - wide_begin);
  if (!data.ok()) {  // keep to what was asked
    wide_begin = begin;
    wide_end = end;
    ASSIGN_OR_RETURN(data, rtimage::ExtractRange(index, plan, compressed, begin, end - begin));
  }
  RETURN_IF_ERROR(MakeDirs(DirName(SpanPath(layer, first)), 0700));
  for (uint64_t span = wide_begin / kSpanSize; span * kSpanSize < wide_end; ++span) {
    const uint64_t at = span * kSpanSize;
    const uint64_t len = std::min(kSpanSize, size - at);
    if (at + len > wide_end) break;
    const bool asked = span >= first && span <= last;
    if (!asked && (PathExists(SpanPath(layer, span)) || !flights_.Claim(SpanKey(layer, span)))) {
      continue;  // on disk already, or another fetch writes it
    }
    Status st = WriteFileAtomic(SpanPath(layer, span),
                                std::string_view(*data).substr(at - wide_begin, len), 0600,
                                /*durable=*/false);
    if (!asked) {
      flights_.Finish(SpanKey(layer, span), st);
      if (st.ok()) ++counters_.spans_extra;
      continue;
    }
    RETURN_IF_ERROR(st);
    ++counters_.spans_fetched;
  }
  return Status::Ok();
}

Status LayerFetcher::EnsureSpans(uint32_t layer, uint64_t first, uint64_t last) {
  std::vector<uint64_t> mine, theirs;
  for (uint64_t span = first; span <= last; ++span) {
    if (PathExists(SpanPath(layer, span))) {
      ++counters_.spans_local;
    } else if (flights_.Claim(SpanKey(layer, span))) {
      if (PathExists(SpanPath(layer, span))) {  // written between the two checks
        flights_.Finish(SpanKey(layer, span), Status::Ok());
      } else {
        mine.push_back(span);
      }
    } else {
      theirs.push_back(span);
    }
  }
  Status result;
  for (size_t i = 0; i < mine.size();) {
    size_t j = i;
    while (j + 1 < mine.size() && mine[j + 1] == mine[j] + 1 && j + 1 - i < kMaxSpansPerFetch) ++j;
    Status st = FetchSpans(layer, mine[i], mine[j]);
    for (size_t k = i; k <= j; ++k) flights_.Finish(SpanKey(layer, mine[k]), st);
    if (!st.ok() && result.ok()) result = st;
    i = j + 1;
  }
  for (uint64_t span : theirs) {
    Status st = flights_.Wait(SpanKey(layer, span));
    if (st.ok() && !PathExists(SpanPath(layer, span))) {
      st = Unavailable("span " + SpanKey(layer, span) + " was not fetched");
    }
    if (!st.ok() && result.ok()) result = st;
  }
  return result;
}

Result<std::string> LayerFetcher::ReadLayer(uint32_t layer, uint64_t offset, uint64_t length) {
  if (length == 0) return std::string();
  if (offset + length > LayerSize(layer)) {
    return Corruption("range " + std::to_string(offset) + "+" + std::to_string(length) +
                      " is beyond layer " + metadata_->layers[layer].digest);
  }
  const uint64_t first = offset / kSpanSize;
  const uint64_t last = (offset + length - 1) / kSpanSize;
  std::string out(length, '\0');
  // The garbage collector may evict a span between EnsureSpans and its
  // open (node/store.h evicts the caches of live mounts down to
  // --max-size): then the spans are fetched again, a few times at most.
  for (int attempt = 0;; ++attempt) {
    RETURN_IF_ERROR(EnsureSpans(layer, first, last));
    bool evicted = false;
    for (uint64_t span = first; span <= last && !evicted; ++span) {
      const uint64_t at = span * kSpanSize;
      const uint64_t from = std::max(offset, at);
      const uint64_t to = std::min(offset + length, at + kSpanSize);
      const std::string path = SpanPath(layer, span);
      auto fd = UniqueFd::Open(path, O_RDONLY);
      if (!fd.ok() && fd.status().code() == StatusCode::kNotFound && attempt < 3) {
        evicted = true;
        break;
      }
      if (!fd.ok()) return fd.status();
      ASSIGN_OR_RETURN(
          size_t n, ReadFullAt(fd->get(), std::span<char>(out.data() + (from - offset), to - from),
                               from - at, path));
      if (n != to - from) {
        ::unlink(path.c_str());
        return Corruption("cached span " + path + " is short; removed");
      }
    }
    if (!evicted) return out;
  }
}

Status LayerFetcher::FailedPiece(uint32_t content, uint64_t piece) {
  std::lock_guard<std::mutex> lock(pieces_mu_);
  auto it = failed_.find({content, piece});
  return it == failed_.end() ? Status::Ok() : it->second;
}

Status LayerFetcher::VerifyPiece(uint32_t content, uint64_t piece, std::string_view bytes) {
  const rtimage::FileContent& c = metadata_->contents[content];
  if (Sha256::Of(bytes) == metadata_->PieceDigest(c, piece)) {
    ++counters_.pieces_verified;
    return Status::Ok();
  }
  ++counters_.pieces_failed;
  const uint64_t begin = c.tar_offset + piece * metadata_->piece_size;
  const uint64_t end = begin + bytes.size();
  // The spans are suspect: other files fetch them again.
  for (uint64_t span = begin / kSpanSize; span <= (end - 1) / kSpanSize; ++span) {
    ::unlink(SpanPath(c.layer, span).c_str());
  }
  Status st = Corruption("bytes " + std::to_string(piece * metadata_->piece_size) + "-" +
                         std::to_string(piece * metadata_->piece_size + bytes.size()) +
                         " of file content " + rtimage::DigestString(c.digest) + " from layer " +
                         metadata_->layers[c.layer].digest +
                         " do not match their digest; they are not served");
  // Said once per piece, where an operator looks: a registry, a mirror or
  // a disk served bytes that are not the image's.
  if (log_) log_->Warning("lazy root file system: " + st.message());
  std::lock_guard<std::mutex> lock(pieces_mu_);
  failed_.emplace(PieceKey{content, piece}, st);
  return st;
}

Result<LayerFetcher::PieceBytes> LayerFetcher::Piece(uint32_t content, uint64_t piece, bool cache) {
  const PieceKey key{content, piece};
  {
    std::lock_guard<std::mutex> lock(pieces_mu_);
    if (auto f = failed_.find(key); f != failed_.end()) return f->second;
    if (auto hit = cached_.find(key); hit != cached_.end()) {
      lru_.splice(lru_.begin(), lru_, hit->second);
      ++counters_.piece_cache_hits;
      return hit->second->second;
    }
  }
  const rtimage::FileContent& c = metadata_->contents[content];
  const uint64_t at = piece * metadata_->piece_size;
  const uint64_t length = std::min<uint64_t>(metadata_->piece_size, c.size - at);
  // A miss brings the file's next bytes with the same request (a file is
  // mostly read on from where a read starts): its spans up to kFileAhead on.
  const uint64_t first = (c.tar_offset + at) / kSpanSize;
  const uint64_t last = (c.tar_offset + at + length - 1) / kSpanSize;
  for (uint64_t span = first; span <= last; ++span) {
    if (PathExists(SpanPath(c.layer, span))) continue;
    const uint64_t ahead_end = c.tar_offset + std::min(c.size, at + kFileAhead);
    RETURN_IF_ERROR(EnsureSpans(c.layer, first, std::max(last, (ahead_end - 1) / kSpanSize)));
    break;
  }
  ASSIGN_OR_RETURN(std::string bytes, ReadLayer(c.layer, c.tar_offset + at, length));
  RETURN_IF_ERROR(VerifyPiece(content, piece, bytes));
  auto shared = std::make_shared<const std::string>(std::move(bytes));
  if (!cache || options_.piece_cache_bytes == 0) return shared;
  std::lock_guard<std::mutex> lock(pieces_mu_);
  if (cached_.count(key) == 0) {
    lru_.emplace_front(key, shared);
    cached_[key] = lru_.begin();
    cached_bytes_ += shared->size();
    while (cached_bytes_ > options_.piece_cache_bytes && lru_.size() > 1) {
      cached_bytes_ -= lru_.back().second->size();
      cached_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  return shared;
}

Result<std::string> LayerFetcher::Read(uint32_t content, uint64_t offset, uint64_t length) {
  const rtimage::FileContent& c = metadata_->contents[content];
  if (offset >= c.size) return std::string();
  length = std::min(length, c.size - offset);
  const uint64_t piece_size = metadata_->piece_size;
  std::string out;
  out.reserve(length);
  for (uint64_t p = offset / piece_size; p <= (offset + length - 1) / piece_size; ++p) {
    ASSIGN_OR_RETURN(PieceBytes bytes, Piece(content, p, /*cache=*/true));
    const uint64_t at = p * piece_size;
    const uint64_t from = std::max(offset, at);
    const uint64_t to = std::min(offset + length, at + bytes->size());
    out.append(*bytes, from - at, to - from);
  }
  return out;
}

Status LayerFetcher::Fetch(uint32_t content) {
  const rtimage::FileContent& c = metadata_->contents[content];
  if (c.size == 0) return Status::Ok();
  RETURN_IF_ERROR(
      EnsureSpans(c.layer, c.tar_offset / kSpanSize, (c.tar_offset + c.size - 1) / kSpanSize));
  for (uint64_t p = 0; p < metadata_->PieceCount(c); ++p) {
    RETURN_IF_ERROR(Piece(content, p, /*cache=*/false).status());
  }
  return Status::Ok();
}

// ---- ChunkSlicer

void ChunkSlicer::Feed(std::string_view data,
                       const std::function<void(uint32_t, std::string_view)>& on_chunk) {
  // With pending_ empty, base_ is the blob offset of data[0]; otherwise
  // pending_ holds the first bytes of chunk next_ and base_ is its offset.
  // A chunk that arrives whole in one piece is handed over without a copy.
  const auto& chunks = *chunks_;
  while (!data.empty() && next_ <= last_) {
    const rtimage::Chunk& ch = chunks[next_];
    if (pending_.empty()) {
      if (base_ < ch.blob_offset) {  // padding before the chunk
        const uint64_t skip = std::min<uint64_t>(ch.blob_offset - base_, data.size());
        data.remove_prefix(static_cast<size_t>(skip));
        base_ += skip;
        continue;
      }
      if (data.size() >= ch.stored) {
        on_chunk(next_, data.substr(0, ch.stored));
        data.remove_prefix(ch.stored);
        base_ += ch.stored;
        ++next_;
        continue;
      }
      pending_.reserve(ch.stored);
      pending_.assign(data);
      return;
    }
    const size_t take = std::min<size_t>(ch.stored - pending_.size(), data.size());
    pending_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (pending_.size() == ch.stored) {
      on_chunk(next_, pending_);
      pending_.clear();
      base_ += ch.stored;
      ++next_;
    }
  }
}

// ---- RuntimePageCache

RuntimePageCache::RuntimePageCache(const rtimage::Metadata* metadata, oci::Descriptor blob,
                                   rtimage::ChunkStore* store, std::unique_ptr<BlobSource> source,
                                   PushFunction push, PageCacheOptions options, const Logger* log)
    : metadata_(metadata),
      blob_(std::move(blob)),
      store_(store),
      source_(std::move(source)),
      push_(std::move(push)),
      options_(options),
      log_(log) {}

RuntimePageCache::~RuntimePageCache() { Stop(); }

Status RuntimePageCache::Start() {
  start_ns_ = static_cast<int64_t>(MonotonicNs());
  const auto& chunks = metadata_->chunks;
  const size_t n = chunks.size();
  users_.assign(n, {});
  for (size_t c = 0; c < metadata_->contents.size(); ++c) {
    for (const rtimage::Extent& e : metadata_->contents[c].extents) {
      users_[e.chunk].emplace_back(static_cast<uint32_t>(c), e.file_offset);
    }
  }
  std::vector<uint32_t> missing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_.assign(n, State::kMissing);
    data_.assign(n, nullptr);
    queued_for_store_.assign(n, false);
    unsettled_ = n;
    for (uint32_t i = 0; i < n; ++i) {
      if (store_->Has(chunks[i].digest)) {
        state_[i] = State::kStored;
        push_queue_.push_back(i);
        ++counters_.chunks_local;
      } else {
        missing.push_back(i);
      }
    }
    if (unsettled_ == 0) counters_.settled_ns = 0;
  }
  // Runs of missing chunks (a gap of local chunks up to 1 MiB is fetched
  // through rather than split), then cut into `streams` parts of about
  // equal bytes, each part fetched in blob (= first access) order.
  constexpr uint64_t kMaxGap = 1 << 20;
  uint64_t total = 0;
  for (uint32_t i : missing) total += chunks[i].stored;
  const int streams = std::max(1, options_.streams);
  const uint64_t share = std::max<uint64_t>(total / static_cast<uint64_t>(streams), 1);
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> parts(1);
  uint64_t in_part = 0;
  for (size_t k = 0; k < missing.size(); ++k) {
    const uint32_t i = missing[k];
    auto& runs = parts.back();
    const bool joins =
        !runs.empty() && chunks[i].blob_offset - (chunks[runs.back().second].blob_offset +
                                                  chunks[runs.back().second].stored) <=
                             kMaxGap;
    if (joins) {
      runs.back().second = i;
    } else {
      runs.emplace_back(i, i);
    }
    in_part += chunks[i].stored;
    if (in_part >= share && parts.size() < static_cast<size_t>(streams) && k + 1 < missing.size()) {
      parts.emplace_back();
      in_part = 0;
    }
  }
  for (auto& runs : parts) {
    if (runs.empty()) continue;
    streams_.emplace_back([this, runs = std::move(runs)] { StreamLoop(runs); });
  }
  storer_ = std::thread([this] { StoreLoop(); });
  return Status::Ok();
}

void RuntimePageCache::StartPushing() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || pusher_.joinable()) return;
  pusher_ = std::thread([this] { PushLoop(); });
}

void RuntimePageCache::StreamLoop(const std::vector<std::pair<uint32_t, uint32_t>>& runs) {
  for (const auto& [first, last] : runs) {
    Status st = StreamRun(first, last);
    if (!st.ok()) {
      FailRemaining(first, last, st);
      continue;
    }
  }
}

Status RuntimePageCache::StreamRun(uint32_t first, uint32_t last) {
  const auto& chunks = metadata_->chunks;
  const uint64_t begin = chunks[first].blob_offset;
  const uint64_t end = chunks[last].blob_offset + chunks[last].stored;
  ChunkSlicer slicer(&chunks, first, last);
  auto on_chunk = [this](uint32_t index, std::string_view data) { OnChunkArrived(index, data); };
  auto sink = [&](std::span<const char> bytes) -> Status {
    slicer.Feed(std::string_view(bytes.data(), bytes.size()), on_chunk);
    return Status::Ok();
  };
  ++counters_.requests;
  return source_->Fetch(blob_.digest, begin, end - begin, sink);
}

void RuntimePageCache::OnChunkArrived(uint32_t chunk, std::string_view data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_[chunk] != State::kMissing) return;  // e.g. local: fetched through
  }
  // Decompressed (when stored compressed) and checked on the stream's
  // thread, so that the streams share the work.
  auto bytes = rtimage::DecodeChunk(metadata_->chunks[chunk], chunk, data);
  if (bytes.ok()) {
    Settle(chunk, State::kInMemory, std::move(*bytes));
  } else {
    if (log_)
      log_->Warning("runtime image: " + bytes.status().message() +
                    "; its files fall back to their layers");
    Settle(chunk, State::kFailed, {});
  }
}

void RuntimePageCache::FailRemaining(uint32_t first, uint32_t last, const Status& why) {
  bool any = false;
  for (uint32_t i = first; i <= last; ++i) {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_[i] != State::kMissing) continue;
    any = true;
    state_[i] = State::kFailed;
    ++counters_.chunks_failed;
    SettledOneLocked();
  }
  if (any && log_ && why.code() != StatusCode::kCancelled) {
    log_->Warning("runtime image: fetching chunks " + std::to_string(first) + "-" +
                  std::to_string(last) + " failed (" + why.message() +
                  "); reads of them fall back to the layers");
  }
}

void RuntimePageCache::Settle(uint32_t chunk, State state, std::string data) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state == State::kInMemory) {
    data_[chunk] = std::make_shared<const std::string>(std::move(data));
    push_queue_.push_back(chunk);
    ++counters_.chunks_fetched;
  } else {
    ++counters_.chunks_failed;
    SettledOneLocked();
  }
  state_[chunk] = state;
  cv_.notify_all();
}

void RuntimePageCache::PushLoop() {
  const auto& chunks = metadata_->chunks;
  for (;;) {
    uint32_t chunk;
    std::shared_ptr<const std::string> data;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !push_queue_.empty(); });
      if (stopping_) return;
      chunk = push_queue_.front();
      push_queue_.pop_front();
      data = data_[chunk];
    }
    const bool fetched = data != nullptr;
    if (!fetched) {
      auto stored = store_->Get(chunks[chunk]);
      if (!stored.ok()) {
        if (log_) log_->Warning("runtime image: " + stored.status().message());
        std::lock_guard<std::mutex> lock(mu_);
        state_[chunk] = State::kFailed;
        ++counters_.chunks_failed;
        SettledOneLocked();
        continue;
      }
      data = std::make_shared<const std::string>(std::move(*stored));
    }
    for (const auto& [content, offset] : users_[chunk]) {
      Status st = push_(content, offset, *data);
      if (!st.ok()) {
        ++counters_.push_errors;
        if (log_) log_->Debug("push: " + st.message());
        continue;
      }
      int64_t expected = -1;
      counters_.first_push_ns.compare_exchange_strong(
          expected, static_cast<int64_t>(MonotonicNs()) - start_ns_);
      counters_.bytes_pushed += static_cast<int64_t>(data->size());
    }
    ++counters_.chunks_pushed;
    std::lock_guard<std::mutex> lock(mu_);
    if (fetched) {
      store_queue_.push_back(chunk);
      queued_for_store_[chunk] = true;
      bytes_to_store_ += data->size();
    }
    SettledOneLocked();
  }
}

void RuntimePageCache::SettledOneLocked() {
  --unsettled_;
  if (unsettled_ == 0) {
    counters_.settled_ns = static_cast<int64_t>(MonotonicNs()) - start_ns_;
    settled_at_ = SteadyClock::now();
  }
  cv_.notify_all();
}

void RuntimePageCache::StoreLoop() {
  // Disk writes must not take the CPU from the starting container; pushes
  // are what it waits for.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  const auto& chunks = metadata_->chunks;
  for (;;) {
    uint32_t chunk;
    std::shared_ptr<const std::string> data;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        std::optional<SteadyClock::time_point> until;
        if (StoreMayRunLocked(&until)) break;
        if (until) {
          cv_.wait_until(lock, *until);
        } else {
          cv_.wait(lock);
        }
      }
      if (store_queue_.empty()) return;  // stopping, and everything is written
      chunk = store_queue_.front();
      store_queue_.pop_front();
      data = data_[chunk];
      bytes_to_store_ -= data->size();
    }
    Status st = store_->PutVerified(chunks[chunk].digest, *data);
    if (!st.ok()) {
      if (log_) log_->Warning("chunk store: " + st.message());
      continue;  // keep serving it from memory
    }
    std::lock_guard<std::mutex> lock(mu_);
    state_[chunk] = State::kStored;
    data_[chunk].reset();
    ++counters_.chunks_stored;
  }
}

bool RuntimePageCache::StoreMayRunLocked(std::optional<SteadyClock::time_point>* until) const {
  if (store_stop_) return true;
  if (store_queue_.empty()) return false;
  if (bytes_to_store_ > options_.store_hold_bytes) return true;
  if (!settled_at_) return false;
  const SteadyClock::time_point at = *settled_at_ + options_.store_delay;
  if (SteadyClock::now() >= at) return true;
  *until = at;
  return false;
}

Result<std::string> RuntimePageCache::ReadChunk(uint32_t chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  if (state_.empty()) return Unavailable("the runtime page cache was not started");
  if (state_[chunk] == State::kMissing) {
    ++counters_.waits;
    const auto deadline = std::chrono::steady_clock::now() + options_.fetch_timeout;
    if (!cv_.wait_until(lock, deadline,
                        [&] { return stopping_ || state_[chunk] != State::kMissing; })) {
      return DeadlineExceeded("runtime image chunk " + std::to_string(chunk) +
                              " did not arrive within " +
                              std::to_string(options_.fetch_timeout.count()) + " ms");
    }
  }
  switch (state_[chunk]) {
    case State::kInMemory: {
      std::shared_ptr<const std::string> data = data_[chunk];
      lock.unlock();
      return std::string(*data);
    }
    case State::kStored:
      lock.unlock();
      return store_->Get(metadata_->chunks[chunk]);
    case State::kMissing:
      return Unavailable("runtime image chunk " + std::to_string(chunk) + ": fetching has stopped");
    case State::kFailed:
      break;
  }
  return Unavailable("runtime image chunk " + std::to_string(chunk) + " failed");
}

bool RuntimePageCache::WaitSettled(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return unsettled_ == 0 || stopping_; }) &&
         unsettled_ == 0;
}

void RuntimePageCache::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  source_->Cancel();
  for (std::thread& t : streams_) {
    if (t.joinable()) t.join();
  }
  if (pusher_.joinable()) pusher_.join();
  {
    // What arrived but was not pushed goes to disk too.
    std::lock_guard<std::mutex> lock(mu_);
    for (uint32_t i = 0; i < state_.size(); ++i) {
      if (state_[i] == State::kInMemory && !queued_for_store_[i]) {
        store_queue_.push_back(i);
        queued_for_store_[i] = true;
      }
    }
    store_stop_ = true;
    cv_.notify_all();
  }
  if (storer_.joinable()) storer_.join();
}

}  // namespace syspgo::fs
