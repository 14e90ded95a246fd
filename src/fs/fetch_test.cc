// SPDX-License-Identifier: Apache-2.0
// The fetch layer (fs/fetch.h) against a fake registry: every request is
// counted and faults are injected (wrong bytes, failures, a registry that
// hangs), so the tests can assert how many requests a read costs and what a
// fault does. No network, no FUSE.
#include "fs/fetch.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/sha256.h"
#include "fs/file_data.h"
#include "fs/image_tree.h"
#include "rtimage/chunk_store.h"

namespace syspgo::fs {
namespace {

using std::chrono::milliseconds;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// A registry repository in memory. Tests keep a pointer to it; the fetchers
// own FakeBlobSource objects that forward to it.
class FakeRegistry {
 public:
  struct Request {
    std::string digest;
    uint64_t offset;
    uint64_t length;
  };
  enum class Fault { kNone, kFail, kHang, kShort };

  void Put(const std::string& digest, std::string bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[digest] = std::move(bytes);
  }
  // Flips one byte of a stored blob (a tampered registry disk).
  void Flip(const std::string& digest, uint64_t at) {
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[digest][at] ^= 0x20;
  }
  void Overwrite(const std::string& digest, uint64_t at, std::string_view bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[digest].replace(at, bytes.size(), bytes);
  }
  // The next `times` requests (all when negative) meet `fault`.
  void SetFault(Fault fault, int times = -1) {
    std::lock_guard<std::mutex> lock(mu_);
    fault_ = fault;
    fault_times_ = times;
  }
  // Every request waits this long before it answers.
  void SetDelay(milliseconds delay) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = delay;
  }
  size_t requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_.size();
  }
  std::vector<Request> log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  size_t hanging() const { return hanging_; }

  // Serves one request for a source whose cancellation is `cancelled`.
  Status Serve(const std::string& digest, uint64_t offset, uint64_t length,
               const oci::BodySink& sink, const std::atomic<bool>& cancelled,
               std::condition_variable* wake, std::mutex* wake_mu) {
    if (cancelled) return Cancelled("fetching has stopped");
    Fault fault;
    std::string bytes;
    milliseconds delay;
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back({digest, offset, length});
      fault = fault_times_ != 0 ? fault_ : Fault::kNone;
      if (fault_times_ > 0) --fault_times_;
      auto it = blobs_.find(digest);
      if (it == blobs_.end()) return NotFound("blob " + digest + " unknown");
      if (offset > it->second.size() || it->second.size() - offset < length) {
        return Corruption("range beyond blob " + digest);
      }
      bytes = it->second.substr(offset, length);
      delay = delay_;
    }
    // Hang and delay end when the source is cancelled (as a transfer
    // aborted by its cancel token does); a hang is bounded so that a broken
    // test cannot wait forever.
    const milliseconds wait = fault == Fault::kHang ? milliseconds(20000) : delay;
    if (wait.count() > 0) {
      ++hanging_;
      std::unique_lock<std::mutex> lock(*wake_mu);
      wake->wait_for(lock, wait, [&] { return cancelled.load(); });
      --hanging_;
      if (cancelled) return Cancelled("fetching has stopped");
      if (fault == Fault::kHang) return Unavailable("no answer (hung registry)");
    }
    if (fault == Fault::kFail) return Unavailable("connection refused");
    if (fault == Fault::kShort) bytes.resize(bytes.size() / 2);
    // Delivered in pieces of varying size, as a network does.
    for (size_t at = 0; at < bytes.size();) {
      const size_t n = std::min<size_t>(bytes.size() - at, 1000 + (at * 7) % 70000);
      RETURN_IF_ERROR(sink(std::span<const char>(bytes.data() + at, n)));
      at += n;
    }
    if (fault == Fault::kShort) return Corruption("range returned " + std::to_string(bytes.size()));
    return Status::Ok();
  }

 private:
  mutable std::mutex mu_;  // guards blobs_, log_, fault_, fault_times_, delay_
  std::map<std::string, std::string> blobs_;
  std::vector<Request> log_;
  Fault fault_ = Fault::kNone;
  int fault_times_ = 0;
  milliseconds delay_{0};
  std::atomic<size_t> hanging_{0};
};

class FakeBlobSource final : public BlobSource {
 public:
  explicit FakeBlobSource(FakeRegistry* registry) : registry_(registry) {}
  Status Fetch(const oci::Digest& digest, uint64_t offset, uint64_t length,
               const oci::BodySink& sink) override {
    ++counters_.requests;
    return registry_->Serve(
        digest.ToString(), offset, length,
        [&](std::span<const char> b) {
          counters_.bytes += static_cast<int64_t>(b.size());
          return sink(b);
        },
        cancelled_, &wake_, &wake_mu_);
  }
  Result<std::string> FetchSmall(const oci::Descriptor& blob) override {
    std::string out;
    RETURN_IF_ERROR(
        Fetch(blob.digest, 0, static_cast<uint64_t>(blob.size), [&](std::span<const char> b) {
          out.append(b.data(), b.size());
          return Status::Ok();
        }));
    if (oci::Digest::Of(out) != blob.digest) return Corruption("digest mismatch");
    return out;
  }
  void Cancel() override {
    std::lock_guard<std::mutex> lock(wake_mu_);
    cancelled_ = true;
    wake_.notify_all();
  }
  const oci::TransferCounters& counters() const override { return counters_; }

 private:
  FakeRegistry* registry_;
  std::atomic<bool> cancelled_{false};
  std::mutex wake_mu_;  // pairs with wake_
  std::condition_variable wake_;
  oci::TransferCounters counters_;
};

// One uncompressed layer (offsets in it are blob offsets) holding files at
// known places, described by metadata with 64 KiB pieces.
struct Sample {
  static constexpr uint32_t kPiece = 64 << 10;
  rtimage::Metadata metadata;
  std::string layer;  // the layer blob
  std::vector<std::string> files;
  oci::Descriptor layer_blob;
  oci::Descriptor index_blob;
  std::string index_bytes;

  // Files of these sizes, one after another with a 512-byte header each;
  // `compressible` files are half zeros (in 64-byte runs), else random.
  explicit Sample(const std::vector<uint64_t>& sizes, bool compressible = false) {
    metadata.piece_size = kPiece;
    for (size_t i = 0; i < sizes.size(); ++i) {
      layer += std::string(512, 'h');
      rtimage::FileContent c;
      c.size = sizes[i];
      c.layer = 0;
      c.tar_offset = layer.size();
      files.push_back(RandomBytes(sizes[i], static_cast<uint32_t>(i + 1)));
      if (compressible) {
        for (size_t at = 64; at < files.back().size(); at += 128) {
          files.back().replace(at, std::min<size_t>(64, files.back().size() - at),
                               std::string(64, '\0'), 0,
                               std::min<size_t>(64, files.back().size() - at));
        }
      }
      layer += files.back();
      c.digest = Sha256::Of(files.back());
      if (c.size > kPiece) {
        for (uint64_t at = 0; at < c.size; at += kPiece) {
          c.pieces.push_back(Sha256::Of(std::string_view(files.back()).substr(at, kPiece)));
        }
      }
      metadata.contents.push_back(std::move(c));
    }
    layer += std::string(1024, '\0');
    rtimage::LayerInfo info;
    layer_blob.digest = oci::Digest::Of(layer);
    layer_blob.size = static_cast<int64_t>(layer.size());
    info.digest = layer_blob.digest.ToString();
    info.diff_id = info.digest;
    info.compressed_size = info.uncompressed_size = layer.size();
    info.access = rtimage::LayerAccess::kUncompressed;
    metadata.layers.push_back(info);
    rtimage::LayerIndex index;
    index.compressed_size = index.uncompressed_size = layer.size();
    index_bytes = rtimage::EncodeLayerIndexes({index});
    index_blob.digest = oci::Digest::Of(index_bytes);
    index_blob.size = static_cast<int64_t>(index_bytes.size());
  }
  std::vector<rtimage::LayerIndex> Indexes() const {
    return *rtimage::DecodeLayerIndexes(index_bytes);
  }
  // Where byte `at` of file `i` is in the layer.
  uint64_t LayerOffset(size_t i, uint64_t at) const { return metadata.contents[i].tar_offset + at; }
};

class LayerFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp", "syspgo-fetch-test-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
  }
  // A fetcher over the sample, with its index given (or fetched at the
  // first miss when `fetch_index`).
  std::unique_ptr<LayerFetcher> Fetcher(const Sample& s, bool fetch_index = false,
                                        FallbackOptions options = {}) {
    registry_.Put(s.layer_blob.digest.ToString(), s.layer);
    registry_.Put(s.index_blob.digest.ToString(), s.index_bytes);
    return std::make_unique<LayerFetcher>(
        &s.metadata, fetch_index ? std::vector<rtimage::LayerIndex>() : s.Indexes(), s.index_blob,
        std::make_unique<FakeBlobSource>(&registry_), JoinPath(dir_.path(), "spans"), nullptr,
        options);
  }

  FakeRegistry registry_;
  TempDir dir_;
};

TEST_F(LayerFetcherTest, AMissCostsOneRequestAndLaterReadsNone) {
  Sample s({5000, 300000});
  auto f = Fetcher(s);
  auto a = f->Read(0, 100, 200);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, s.files[0].substr(100, 200));
  EXPECT_EQ(registry_.requests(), 1u);
  // The neighbour came with the same span; the read of a part of a piece
  // brings the whole piece, verified once.
  auto b = f->Read(1, 70000, 10);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, s.files[1].substr(70000, 10));
  auto again = f->Read(1, 70010, 100000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, s.files[1].substr(70010, 100000));
  EXPECT_EQ(registry_.requests(), 1u);
  EXPECT_EQ(f->counters().pieces_verified, 3) << "file 0, and pieces 1 and 2 of file 1";
  EXPECT_GE(f->counters().piece_cache_hits, 1);
  // Reads past the end are clamped.
  EXPECT_EQ(f->Read(0, 4990, 100)->size(), 10u);
  EXPECT_EQ(f->Read(0, 6000, 100)->size(), 0u);
}

// A miss brings the file's next 4 MiB with the same request: a start that
// reads a library on from where it began costs one request, not one per
// span.
TEST_F(LayerFetcherTest, AMissFetchesTheFileAheadInOneRequest) {
  Sample s({6 << 20});
  auto f = Fetcher(s);
  ASSERT_TRUE(f->Read(0, 100, 10).ok());
  EXPECT_EQ(registry_.requests(), 1u);
  auto later = f->Read(0, (3 << 20) + 5, 100000);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(*later, s.files[0].substr((3 << 20) + 5, 100000));
  EXPECT_EQ(registry_.requests(), 1u) << "within the 4 MiB ahead";
  ASSERT_TRUE(f->Read(0, (5 << 20) + 5, 10).ok());
  EXPECT_EQ(registry_.requests(), 2u) << "past it";
  EXPECT_EQ(f->counters().pieces_verified, 4) << "only the pieces read are hashed";
}

TEST_F(LayerFetcherTest, ConcurrentMissesOfOneSpanFetchItOnce) {
  Sample s({200000});
  auto f = Fetcher(s);
  registry_.SetDelay(milliseconds(100));  // all readers arrive while it is out
  std::vector<std::thread> readers;
  std::atomic<int> good{0};
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&, i] {
      auto r = f->Read(0, static_cast<uint64_t>(i) * 20000, 4096);
      if (r.ok() && *r == s.files[0].substr(static_cast<size_t>(i) * 20000, 4096)) ++good;
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(good, 8);
  EXPECT_EQ(registry_.requests(), 1u);
}

// A flipped byte in a file larger than a piece, on the registry's disk:
// the piece holding it is refused (and stays refused, with no new
// request), every other piece is served.
TEST_F(LayerFetcherTest, TamperedByteFailsItsPieceForGood) {
  Sample s({10 * Sample::kPiece + 123});
  registry_.Put(s.layer_blob.digest.ToString(), s.layer);
  registry_.Flip(s.layer_blob.digest.ToString(), s.LayerOffset(0, 3 * Sample::kPiece + 77));
  auto f = std::make_unique<LayerFetcher>(&s.metadata, s.Indexes(), s.index_blob,
                                          std::make_unique<FakeBlobSource>(&registry_),
                                          JoinPath(dir_.path(), "spans"), nullptr);
  auto before = f->Read(0, 0, 3 * Sample::kPiece);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(*before, s.files[0].substr(0, 3 * Sample::kPiece));
  auto bad = f->Read(0, 3 * Sample::kPiece + 4096, 4096);
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption) << bad.status().ToString();
  const size_t requests = registry_.requests();
  // The same piece again: the same refusal, nothing fetched.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(f->Read(0, 3 * Sample::kPiece, 1).status().code(), StatusCode::kCorruption);
  }
  // A read across the bad piece fails as a whole.
  EXPECT_FALSE(f->Read(0, 2 * Sample::kPiece, 2 * Sample::kPiece).ok());
  auto after = f->Read(0, 4 * Sample::kPiece, 6 * Sample::kPiece + 123);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, s.files[0].substr(4 * Sample::kPiece));
  EXPECT_EQ(f->counters().pieces_failed, 1);
  EXPECT_EQ(registry_.requests(), requests + 1) << "the failed piece's span was fetched again";
  // Prefetch meets the same piece and reports it.
  EXPECT_EQ(f->Fetch(0).code(), StatusCode::kCorruption);
}

// Two files of the same length swapped in the registry's copy: both are
// refused, though their sizes match.
TEST_F(LayerFetcherTest, SameLengthSwapIsRefused) {
  Sample s({30000, 30000});
  std::string swapped = s.layer;
  swapped.replace(s.LayerOffset(0, 0), 30000, s.files[1]);
  swapped.replace(s.LayerOffset(1, 0), 30000, s.files[0]);
  registry_.Put(s.layer_blob.digest.ToString(), swapped);
  auto f = std::make_unique<LayerFetcher>(&s.metadata, s.Indexes(), s.index_blob,
                                          std::make_unique<FakeBlobSource>(&registry_),
                                          JoinPath(dir_.path(), "spans"), nullptr);
  EXPECT_EQ(f->Read(0, 0, 10).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(f->Read(1, 29990, 10).status().code(), StatusCode::kCorruption);
}

// Spans on disk are a cache, not a source of truth: bytes changed there
// are refused by a fetcher that had not seen them, and the bad span is
// removed so that the next fetcher gets the registry's bytes.
TEST_F(LayerFetcherTest, TamperedSpanOnDiskIsRefused) {
  Sample s({100000});
  {
    auto f = Fetcher(s);
    ASSERT_TRUE(f->Read(0, 0, 10).ok());
  }
  const std::string span = JoinPath(JoinPath(dir_.path(), "spans"), s.layer_blob.digest.hex + "/0");
  auto text = ReadFileToString(span);
  ASSERT_TRUE(text.ok()) << span;
  (*text)[s.LayerOffset(0, 500)] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(span, *text, 0600, false).ok());
  auto f = Fetcher(s);
  EXPECT_EQ(f->Read(0, 0, 10).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(registry_.requests(), 1u) << "the tampered span was read, not fetched";
  EXPECT_FALSE(PathExists(span)) << "the span that failed is removed";
  auto fresh = Fetcher(s);
  auto r = fresh->Read(0, 0, 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, s.files[0].substr(0, 10));
}

// A failed fetch of the checkpoint index is remembered for the back-off:
// the misses meanwhile fail at once without a request of their own.
TEST_F(LayerFetcherTest, FailedIndexFetchIsRememberedForTheBackoff) {
  Sample s({5000});
  FallbackOptions o;
  o.index_backoff = milliseconds(300);
  auto f = Fetcher(s, /*fetch_index=*/true, o);
  registry_.SetFault(FakeRegistry::Fault::kFail, 1);
  EXPECT_EQ(f->Read(0, 0, 10).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(registry_.requests(), 1u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(f->Read(0, 0, 10).ok());
  EXPECT_EQ(registry_.requests(), 1u) << "no new request during the back-off";
  std::this_thread::sleep_for(milliseconds(350));
  auto r = f->Read(0, 0, 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(registry_.requests(), 3u) << "the index, then the span";
}

TEST_F(LayerFetcherTest, CorruptIndexFailsForGood) {
  Sample s({5000});
  FallbackOptions o;
  o.index_backoff = milliseconds(1);
  auto f = Fetcher(s, /*fetch_index=*/true, o);
  registry_.Flip(s.index_blob.digest.ToString(), 10);
  EXPECT_EQ(f->Read(0, 0, 10).status().code(), StatusCode::kCorruption);
  std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(f->Read(0, 0, 10).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(registry_.requests(), 1u);
}

// A registry that hangs: the read waits until fetching is stopped, then
// fails at once; so do later reads.
TEST_F(LayerFetcherTest, HungRegistryEndsWhenFetchingStops) {
  Sample s({5000});
  auto f = Fetcher(s);
  registry_.SetFault(FakeRegistry::Fault::kHang);
  Result<std::string> r = Internal("not run");
  std::thread reader([&] { r = f->Read(0, 0, 10); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (registry_.hanging() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  ASSERT_EQ(registry_.hanging(), 1u);
  const auto stopped = std::chrono::steady_clock::now();
  f->Disable();
  reader.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, milliseconds(1000));
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().ToString();
  EXPECT_EQ(f->Read(0, 0, 10).status().code(), StatusCode::kCancelled);
  EXPECT_EQ(registry_.requests(), 1u);
}

TEST_F(LayerFetcherTest, PrefetchVerifiesEveryPieceAndReadsNeedNoRequest) {
  Sample s({5 * Sample::kPiece + 1, 100});
  auto f = Fetcher(s);
  ASSERT_TRUE(f->Fetch(0).ok());
  EXPECT_EQ(f->counters().pieces_verified, 6);
  const size_t requests = registry_.requests();
  auto r = f->Read(0, 0, 5 * Sample::kPiece + 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, s.files[0]);
  EXPECT_EQ(registry_.requests(), requests);
}

// The runtime image's blob: chunks with the files' extents.
struct ChunkedSample {
  Sample base;
  std::string blob;
  oci::Descriptor blob_desc;

  // File 0's first `chunks` pieces of 16 KiB are chunks, in order, packed;
  // with `compress`, stored as zstd frames where that helps.
  explicit ChunkedSample(int chunks, bool compress = false)
      : base({static_cast<uint64_t>(chunks) * 16384 + 5000}, compress) {
    rtimage::Metadata& m = base.metadata;
    for (int i = 0; i < chunks; ++i) {
      rtimage::Chunk c;
      c.blob_offset = blob.size();
      c.length = 16384;
      std::string_view data =
          std::string_view(base.files[0]).substr(static_cast<size_t>(i) * 16384, 16384);
      c.digest = Sha256::Of(data);
      const std::string stored = compress ? rtimage::EncodeChunk(data, 3) : std::string(data);
      c.stored = static_cast<uint32_t>(stored.size());
      blob += stored;
      m.chunks.push_back(c);
      m.contents[0].extents.push_back(
          {static_cast<uint64_t>(i) * 16384, 16384, static_cast<uint32_t>(i)});
    }
    m.blob_size = blob.size();
    blob_desc.digest = oci::Digest::Of(blob);
    blob_desc.size = static_cast<int64_t>(blob.size());
  }
};

class RuntimePageCacheTest : public LayerFetcherTest {
 protected:
  void SetUp() override {
    LayerFetcherTest::SetUp();
    auto store = rtimage::ChunkStore::Open(JoinPath(dir_.path(), "chunks"));
    ASSERT_TRUE(store.ok());
    store_ = std::make_unique<rtimage::ChunkStore>(std::move(*store));
  }
  std::unique_ptr<RuntimePageCache> Cache(const ChunkedSample& s, PageCacheOptions o = {}) {
    registry_.Put(s.blob_desc.digest.ToString(), s.blob);
    return std::make_unique<RuntimePageCache>(
        &s.base.metadata, s.blob_desc, store_.get(), std::make_unique<FakeBlobSource>(&registry_),
        [this](uint32_t content, uint64_t offset, std::string_view data) {
          std::lock_guard<std::mutex> lock(pushed_mu_);
          pushed_.emplace_back(offset, std::string(data));
          return Status::Ok();
        },
        o, nullptr);
  }
  // Starts the streams and the pusher, and waits until every chunk was
  // pushed or failed.
  static void StartAndSettle(RuntimePageCache& cache) {
    ASSERT_TRUE(cache.Start().ok());
    cache.StartPushing();
    ASSERT_TRUE(cache.WaitSettled(std::chrono::seconds(10)));
  }
  std::unique_ptr<rtimage::ChunkStore> store_;
  std::mutex pushed_mu_;  // guards pushed_
  std::vector<std::pair<uint64_t, std::string>> pushed_;
};

TEST_F(RuntimePageCacheTest, TwoStreamsFetchEveryChunkOnceAndPushIt) {
  ChunkedSample s(8);
  PageCacheOptions o;
  o.streams = 2;
  auto cache = Cache(s, o);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(*cache));
  auto log = registry_.log();
  ASSERT_EQ(log.size(), 2u) << "one Range request per stream";
  uint64_t covered = 0;
  for (const auto& r : log) covered += r.length;
  EXPECT_EQ(covered, s.blob.size()) << "disjoint ranges covering the blob";
  EXPECT_EQ(cache->counters().chunks_fetched, 8);
  EXPECT_EQ(cache->counters().chunks_pushed, 8);
  std::lock_guard<std::mutex> lock(pushed_mu_);
  ASSERT_EQ(pushed_.size(), 8u);
  for (const auto& [offset, data] : pushed_) {
    EXPECT_EQ(data, s.base.files[0].substr(offset, data.size())) << offset;
  }
  auto chunk = cache->ReadChunk(5);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(*chunk, s.base.files[0].substr(5 * 16384, 16384));
}

TEST_F(RuntimePageCacheTest, LocalChunksAreNotFetched) {
  ChunkedSample s(6);
  for (uint32_t i : {0u, 1u, 2u}) {
    const rtimage::Chunk& c = s.base.metadata.chunks[i];
    ASSERT_TRUE(
        store_->Put(c.digest, std::string_view(s.blob).substr(c.blob_offset, c.length)).ok());
  }
  PageCacheOptions o;
  o.streams = 4;
  auto cache = Cache(s, o);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(*cache));
  uint64_t fetched = 0;
  for (const auto& r : registry_.log()) {
    EXPECT_GE(r.offset, s.base.metadata.chunks[3].blob_offset);
    fetched += r.length;
  }
  EXPECT_EQ(fetched, 3u * 16384);
  EXPECT_EQ(cache->counters().chunks_local, 3);
  EXPECT_EQ(cache->counters().chunks_pushed, 6);
}

// A chunk whose bytes are wrong is failed, never pushed or served; the
// others are.
TEST_F(RuntimePageCacheTest, WrongChunkIsFailedAndNotServed) {
  ChunkedSample s(4);
  auto cache = Cache(s);
  registry_.Flip(s.blob_desc.digest.ToString(), s.base.metadata.chunks[2].blob_offset + 9);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(*cache));
  EXPECT_EQ(cache->counters().chunks_failed, 1);
  EXPECT_EQ(cache->counters().chunks_pushed, 3);
  EXPECT_FALSE(cache->ReadChunk(2).ok());
  EXPECT_TRUE(cache->ReadChunk(3).ok());
  std::lock_guard<std::mutex> lock(pushed_mu_);
  for (const auto& [offset, data] : pushed_) EXPECT_NE(offset, 2u * 16384);
}

// Chunks stored as zstd frames: fetched at their stored size, pushed and
// served as the file's bytes; one whose frame was tampered with (so it
// decodes to other bytes or not at all) is failed like a wrong raw chunk.
TEST_F(RuntimePageCacheTest, CompressedChunksAreDecodedAndATamperedOneFails) {
  ChunkedSample s(6, /*compress=*/true);
  uint64_t bytes = 0;
  for (const rtimage::Chunk& c : s.base.metadata.chunks) {
    ASSERT_TRUE(c.compressed()) << "half-zero data compresses";
    bytes += c.stored;
  }
  ASSERT_EQ(bytes, s.blob.size());
  PageCacheOptions o;
  o.streams = 2;
  auto cache = Cache(s, o);
  registry_.Flip(s.blob_desc.digest.ToString(), s.base.metadata.chunks[4].blob_offset + 20);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(*cache));
  uint64_t fetched = 0;
  for (const auto& r : registry_.log()) fetched += r.length;
  EXPECT_EQ(fetched, s.blob.size()) << "the compressed bytes, once";
  EXPECT_EQ(cache->counters().chunks_failed, 1);
  EXPECT_EQ(cache->counters().chunks_pushed, 5);
  EXPECT_FALSE(cache->ReadChunk(4).ok());
  auto chunk = cache->ReadChunk(3);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(*chunk, s.base.files[0].substr(3 * 16384, 16384));
  std::lock_guard<std::mutex> lock(pushed_mu_);
  for (const auto& [offset, data] : pushed_) {
    EXPECT_NE(offset, 4u * 16384);
    EXPECT_EQ(data, s.base.files[0].substr(offset, data.size())) << offset;
  }
}

// A blob cut short: the chunks it lacks fail, the ones it has are served.
TEST_F(RuntimePageCacheTest, TruncatedBlobFailsTheMissingChunks) {
  ChunkedSample s(4);
  PageCacheOptions o;
  o.streams = 1;
  auto cache = Cache(s, o);
  registry_.SetFault(FakeRegistry::Fault::kShort);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(*cache));
  EXPECT_EQ(cache->counters().chunks_fetched, 2);
  EXPECT_EQ(cache->counters().chunks_failed, 2);
  EXPECT_TRUE(cache->ReadChunk(1).ok());
  EXPECT_FALSE(cache->ReadChunk(3).ok());
}

// A hung registry: a read waiting for its chunk fails after the fetch
// timeout, not before and not much later; Stop ends the hung stream.
TEST_F(RuntimePageCacheTest, ReadOfAHungChunkEndsAtTheFetchTimeout) {
  ChunkedSample s(2);
  PageCacheOptions o;
  o.streams = 1;
  o.fetch_timeout = milliseconds(300);
  auto cache = Cache(s, o);
  registry_.SetFault(FakeRegistry::Fault::kHang);
  ASSERT_TRUE(cache->Start().ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = cache->ReadChunk(0);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_GE(waited, milliseconds(250));
  EXPECT_LT(waited, milliseconds(2000));
  const auto t1 = std::chrono::steady_clock::now();
  cache->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, milliseconds(2000));
  EXPECT_FALSE(cache->ReadChunk(1).ok());
  EXPECT_EQ(registry_.requests(), 1u);
}

// File bytes: extents from the runtime page cache, gaps and failed chunks
// from the (verified) layer fallback.
TEST_F(RuntimePageCacheTest, FileDataJoinsExtentsAndFallback) {
  ChunkedSample s(3);  // extents cover [0, 48K); the file has 5000 more
  rtimage::Entry root;
  root.path = "/";
  root.type = rtimage::EntryType::kDirectory;
  rtimage::Entry file;
  file.path = "/f";
  file.type = rtimage::EntryType::kRegular;
  file.content = 0;
  s.base.metadata.entries = {root, file};
  auto cache = Cache(s);
  registry_.Flip(s.blob_desc.digest.ToString(), s.base.metadata.chunks[1].blob_offset);
  auto fallback = Fetcher(s.base);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(*cache));
  auto tree = ImageTree::Build(&s.base.metadata);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  FileData data(&*tree, cache.get(), fallback.get(), nullptr);
  auto all = data.Read(0, 0, 1 << 20);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, s.base.files[0]);
  EXPECT_EQ(data.counters().bytes_runtime_image, 2 * 16384);
  EXPECT_EQ(data.counters().bytes_fallback, 16384 + 5000);
}

// Wait must block until the owner finishes: a waiter that returned at once
// would let a reader go on before the span it needs is on disk.
TEST(FlightTableTest, WaitBlocksUntilFinishAndSeesItsOutcome) {
  FlightTable flights;
  ASSERT_TRUE(flights.Claim("span"));
  std::atomic<bool> returned{false};
  Status seen;
  std::thread waiter([&] {
    seen = flights.Wait("span");
    returned = true;
  });
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(returned) << "Wait returned before Finish";
  flights.Finish("span", Unavailable("registry gone"));
  waiter.join();
  EXPECT_TRUE(returned);
  EXPECT_EQ(seen.code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace syspgo::fs
