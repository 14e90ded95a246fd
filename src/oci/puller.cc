// SPDX-License-Identifier: Apache-2.0
#include "oci/puller.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/stream.h"
#include "oci/compression.h"
#include "oci/progress.h"
#include "oci/tar.h"
#include "oci/unpack.h"

namespace syspgo::oci {
namespace {

// Decompresses and unpacks a layer stream into root; returns the hex
// sha256 of the uncompressed stream (the diff_id).
Result<std::string> UnpackLayerStream(ByteReader* compressed, const std::string& root,
                                      UnpackStats* stats) {
  char head[4];
  ASSIGN_OR_RETURN(size_t n, ReadFully(*compressed, head));
  Compression compression = SniffCompression({head, n});
  PrefixedReader source(std::string(head, n), compressed);
  ASSIGN_OR_RETURN(std::unique_ptr<ByteReader> plain, NewDecompressingReader(compression, &source));
  HashingReader hashed(plain.get());
  RETURN_IF_ERROR(UnpackTarStream(&hashed, root, stats));
  // Whatever follows the end-of-archive marker still belongs to the diff.
  RETURN_IF_ERROR(Drain(hashed).status());
  return hashed.FinalHex();
}

}  // namespace

Status UnpackVerifiedLayer(const Descriptor& layer, const Digest& diff_id, const std::string& fs,
                           const std::function<Status(const BodySink&)>& produce,
                           const BodySink& tee, UnpackStats* stats,
                           const std::function<void()>& on_received) {
  const Digest& digest = layer.digest;
  ChunkPipe pipe;
  Result<std::string> diff_hex = std::string();
  UnpackStats unpack_stats;
  std::thread unpacker([&] {
    diff_hex = UnpackLayerStream(&pipe, fs, &unpack_stats);
    if (!diff_hex.ok()) pipe.Abandon();  // the producer keeps hashing
  });
  Sha256 hash;
  int64_t received = 0;
  BodySink sink = [&](std::span<const char> chunk) -> Status {
    if (received + static_cast<int64_t>(chunk.size()) > layer.size) {
      return Corruption("blob " + digest.ToString() + " is larger than its " +
                        std::to_string(layer.size) + "-byte descriptor");
    }
    hash.Update(chunk.data(), chunk.size());
    if (tee) RETURN_IF_ERROR(tee(chunk));
    received += static_cast<int64_t>(chunk.size());
    pipe.Push(chunk);  // false once the unpacker gave up; keep verifying
    return Status::Ok();
  };
  Status transfer = produce(sink);
  if (transfer.ok() && received != layer.size) {
    transfer = Corruption("blob " + digest.ToString() + " has " + std::to_string(received) +
                          " bytes, descriptor says " + std::to_string(layer.size));
  }
  if (transfer.ok()) {
    std::string actual = hash.FinalHex();
    if (actual != digest.hex) {
      transfer = Corruption("blob " + digest.ToString() +
                            ": digest mismatch, content hashes to sha256:" + actual);
    }
  }
  pipe.Close(transfer.ok() ? Status::Ok() : transfer);
  if (on_received) on_received();
  unpacker.join();
  if (stats) *stats = unpack_stats;
  // A digest mismatch explains any unpack error it caused: report it first.
  RETURN_IF_ERROR(transfer);
  if (!diff_hex.ok()) return diff_hex.status().WithContext("unpack layer " + digest.ToString());
  if (*diff_hex != diff_id.hex) {
    return Corruption("layer " + digest.ToString() + ": uncompressed content hashes to sha256:" +
                      *diff_hex + ", but the image config says " + diff_id.ToString());
  }
  return Status::Ok();
}

namespace {

struct LayerJob {
  Descriptor descriptor;
  Digest diff_id;
  LayerProgress* progress = nullptr;
};

}  // namespace

Result<LocalImage> Puller::Assemble(const ImageReference& ref, const Digest& manifest_digest,
                                    const std::string& manifest_body,
                                    const std::string& config_body) {
  LocalImage image;
  image.reference = ref;
  image.manifest_digest = manifest_digest;
  image.manifest_size = static_cast<int64_t>(manifest_body.size());
  ASSIGN_OR_RETURN(image.manifest, ParseImageManifest(manifest_body));
  ASSIGN_OR_RETURN(image.config, ParseImageConfig(config_body));
  if (image.config.diff_ids.size() != image.manifest.layers.size()) {
    return Corruption("image " + ref.ToString() + " has " +
                      std::to_string(image.manifest.layers.size()) +
                      " layers but its config lists " +
                      std::to_string(image.config.diff_ids.size()) + " diff_ids");
  }
  for (const Digest& diff_id : image.config.diff_ids) {
    image.layer_paths.push_back(store_->LayerFsPath(diff_id));
  }
  return image;
}

Result<ResolvedManifest> ImageManifestFrom(FetchedManifest fetched) {
  ResolvedManifest out;
  out.fetched = std::move(fetched);
  ASSIGN_OR_RETURN(ManifestDocument doc,
                   ParseManifestDocument(out.fetched.media_type, out.fetched.body));
  if (!doc.manifest) {
    return Corruption("manifest " + out.fetched.digest.ToString() + " is not an image manifest");
  }
  out.manifest = std::move(*doc.manifest);
  out.descriptor.media_type = out.manifest.media_type;
  out.descriptor.digest = out.fetched.digest;
  out.descriptor.size = static_cast<int64_t>(out.fetched.body.size());
  return out;
}

Result<ResolvedManifest> ResolveImageManifest(RegistryClient& client, const ImageReference& ref,
                                              std::string_view os, std::string_view architecture) {
  ASSIGN_OR_RETURN(FetchedManifest fetched,
                   client.GetManifest(ref.repository, ref.ManifestReference()));
  ASSIGN_OR_RETURN(ManifestDocument doc, ParseManifestDocument(fetched.media_type, fetched.body));
  if (!doc.index) return ImageManifestFrom(std::move(fetched));
  std::string index_body = std::move(fetched.body);
  ASSIGN_OR_RETURN(Descriptor chosen, SelectPlatform(*doc.index, os, architecture));
  ASSIGN_OR_RETURN(fetched, client.GetManifest(ref.repository, chosen.digest.ToString()));
  ASSIGN_OR_RETURN(ResolvedManifest out, ImageManifestFrom(std::move(fetched)));
  out.index_body = std::move(index_body);
  return out;
}

Result<ResolvedManifest> FetchImageManifest(RegistryClient& client, const std::string& repository,
                                            const Digest& digest) {
  ASSIGN_OR_RETURN(FetchedManifest fetched, client.GetManifest(repository, digest.ToString()));
  return ImageManifestFrom(std::move(fetched));
}

Result<LocalImage> Puller::LoadLocal(const ImageReference& ref) {
  ASSIGN_OR_RETURN(Digest digest, store_->GetRef(ref.ToString()));
  ASSIGN_OR_RETURN(std::string manifest_body, store_->ReadBlob(digest));
  ASSIGN_OR_RETURN(ImageManifest manifest, ParseImageManifest(manifest_body));
  ASSIGN_OR_RETURN(std::string config_body, store_->ReadBlob(manifest.config.digest));
  ASSIGN_OR_RETURN(LocalImage image, Assemble(ref, digest, manifest_body, config_body));
  for (size_t i = 0; i < image.layer_paths.size(); ++i) {
    if (!store_->HasLayer(image.config.diff_ids[i])) {
      return NotFound("layer " + image.config.diff_ids[i].ToString() + " of " + ref.ToString() +
                      " is not in the local store");
    }
  }
  store_->TouchRef(ref.ToString());  // a start from the local copy uses it
  return image;
}

Status Puller::FetchLayerBlobs(const LocalImage& image) {
  std::optional<RegistryClient> client;
  for (const Descriptor& d : image.manifest.layers) {
    if (store_->HasBlob(d.digest)) continue;
    if (!client) {
      ASSIGN_OR_RETURN(RegistryClient made,
                       RegistryClient::Create(image.reference.registry, registry_));
      client.emplace(std::move(made));
    }
    ASSIGN_OR_RETURN(TempDir work, store_->NewTempDir("blob-"));
    const std::string file = JoinPath(work.path(), "blob");
    ASSIGN_OR_RETURN(UniqueFd out, UniqueFd::Open(file, O_WRONLY | O_CREAT | O_EXCL, 0600));
    Sha256 hash;
    int64_t received = 0;
    RETURN_IF_ERROR(client->FetchBlob(
        image.reference.repository, d.digest, 0, [&](std::span<const char> chunk) -> Status {
          received += static_cast<int64_t>(chunk.size());
          if (received > d.size) {
            return Corruption("blob " + d.digest.ToString() + " is larger than its " +
                              std::to_string(d.size) + "-byte descriptor");
          }
          hash.Update(chunk.data(), chunk.size());
          return WriteAll(out.get(), chunk, file);
        }));
    if (received != d.size || hash.FinalHex() != d.digest.hex) {
      return Corruption("blob " + d.digest.ToString() + " does not match its descriptor");
    }
    out.Reset();
    RETURN_IF_ERROR(store_->CommitBlobFile(file, d.digest));
    if (log_) log_->Debug("fetched the compressed layer " + d.digest.ToString());
  }
  return Status::Ok();
}

Result<LocalImage> Puller::Pull(const ImageReference& ref, const PullOptions& options,
                                PullStats* stats) {
  const auto start = SteadyClock::now();
  // Layers found stored are ours once the ref is set; until then the
  // garbage collector must not decide they are unused.
  ASSIGN_OR_RETURN(UniqueFd gc_hold, LayerStore::HoldAgainstGc(store_->root(), registry_.cancel));
  TransferCounters counters;
  ASSIGN_OR_RETURN(RegistryClient client,
                   RegistryClient::Create(ref.registry, registry_, &counters));
  ASSIGN_OR_RETURN(ResolvedManifest resolved,
                   ResolveImageManifest(client, ref, options.os, options.architecture));
  if (!resolved.index_body.empty()) {
    RETURN_IF_ERROR(store_->PutBlob(Digest::Of(resolved.index_body), resolved.index_body));
  }
  FetchedManifest& fetched = resolved.fetched;
  ASSIGN_OR_RETURN(ManifestDocument doc, ParseManifestDocument(fetched.media_type, fetched.body));
  const ImageManifest& manifest = *doc.manifest;
  RETURN_IF_ERROR(store_->PutBlob(fetched.digest, fetched.body));

  std::string config_body;
  if (store_->HasBlob(manifest.config.digest)) {
    ASSIGN_OR_RETURN(config_body, store_->ReadBlob(manifest.config.digest));
  } else {
    ASSIGN_OR_RETURN(config_body, client.FetchSmallBlob(ref.repository, manifest.config));
    RETURN_IF_ERROR(store_->PutBlob(manifest.config.digest, config_body));
  }
  ASSIGN_OR_RETURN(LocalImage image, Assemble(ref, fetched.digest, fetched.body, config_body));

  // The layers to fetch, once each.
  ProgressReporter reporter(STDERR_FILENO, options.progress);
  std::vector<LayerJob> jobs;
  std::set<Digest> seen;
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    const Descriptor& d = manifest.layers[i];
    ASSIGN_OR_RETURN(Compression declared, LayerCompression(d.media_type));
    (void)declared;  // the stream's magic decides; the type must be a layer
    const Digest& diff_id = image.config.diff_ids[i];
    if (!seen.insert(diff_id).second) continue;
    LayerProgress* p = reporter.AddLayer(d.digest.hex.substr(0, 12), d.size);
    if (store_->HasLayer(diff_id)) {
      p->state = LayerProgress::kCached;
      p->done = d.size;
      if (stats) stats->layers_local++;
      continue;
    }
    jobs.push_back({d, diff_id, p});
  }
  if (stats) stats->layers_total = static_cast<int>(seen.size());
  reporter.Start();

  // Workers take jobs in order; the first failure cancels the rest.
  CancelToken pull_cancel(registry_.cancel);
  RegistryOptions worker_options = registry_;
  worker_options.cancel = &pull_cancel;
  std::atomic<size_t> next{0};
  std::atomic<int> layers_waited{0};  // stored by another pull while we waited
  std::mutex error_mu;
  Status first_error;  // guarded by error_mu
  auto fail = [&](const Status& st) {
    std::lock_guard<std::mutex> lock(error_mu);
    if (first_error.ok()) first_error = st;
    pull_cancel.Cancel();
  };

  auto fetch_layer = [&](RegistryClient& worker, const LayerJob& job) -> Status {
    const Digest& digest = job.descriptor.digest;
    // Another pull on this node (a process or a thread) fetching the same
    // layer goes first; then the layer is most likely here.
    ASSIGN_OR_RETURN(UniqueFd layer_lock, store_->LockLayer(job.diff_id, &pull_cancel));
    if (store_->HasLayer(job.diff_id)) {
      job.progress->state = LayerProgress::kCached;
      job.progress->done = job.descriptor.size;
      layers_waited++;
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(TempDir work, store_->NewTempDir("layer-"));
    std::string fs = JoinPath(work.path(), "fs");
    std::string blob_file = JoinPath(work.path(), "blob");
    if (::mkdir(fs.c_str(), 0755) != 0) return ErrnoStatus(errno, "mkdir", fs);
    const bool blob_local = store_->HasBlob(digest);
    UniqueFd blob_out;
    if (!blob_local) {
      ASSIGN_OR_RETURN(blob_out, UniqueFd::Open(blob_file, O_WRONLY | O_CREAT | O_EXCL, 0600));
    }
    job.progress->state = LayerProgress::kFetching;
    int64_t received = 0;
    BodySink tee = [&](std::span<const char> chunk) -> Status {
      if (blob_out.valid()) RETURN_IF_ERROR(WriteAll(blob_out.get(), chunk, blob_file));
      received += static_cast<int64_t>(chunk.size());
      job.progress->done = received;
      return Status::Ok();
    };
    auto produce = [&](const BodySink& sink) -> Status {
      if (!blob_local) return worker.FetchBlob(image.reference.repository, digest, 0, sink);
      // The compressed blob survived but its unpacked layer did not.
      ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(store_->BlobPath(digest), O_RDONLY));
      std::vector<char> buf(1 << 20);
      for (;;) {
        ASSIGN_OR_RETURN(size_t n, ReadFull(fd.get(), buf, store_->BlobPath(digest)));
        if (n == 0) return Status::Ok();
        RETURN_IF_ERROR(sink({buf.data(), n}));
      }
    };
    UnpackStats unpack_stats;
    RETURN_IF_ERROR(UnpackVerifiedLayer(job.descriptor, job.diff_id, fs, produce, tee,
                                        &unpack_stats,
                                        [&] { job.progress->state = LayerProgress::kUnpacking; }));
    if (blob_out.valid()) {
      blob_out.Reset();
      RETURN_IF_ERROR(store_->CommitBlobFile(blob_file, digest));
    }
    nlohmann::json info = {{"digest", digest.ToString()},
                           {"diff_id", job.diff_id.ToString()},
                           {"media_type", job.descriptor.media_type},
                           {"size", job.descriptor.size},
                           {"files", unpack_stats.files},
                           {"file_bytes", unpack_stats.file_bytes}};
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(work.path(), "info.json"), info.dump(), 0600, false));
    RETURN_IF_ERROR(store_->CommitLayer(std::move(work), job.diff_id));
    return Status::Ok();
  };

  int workers = std::max(1, std::min<int>(options.jobs, static_cast<int>(jobs.size())));
  std::vector<std::thread> threads;
  for (int w = 0; w < workers && !jobs.empty(); ++w) {
    threads.emplace_back([&] {
      auto worker = RegistryClient::Create(ref.registry, worker_options, &counters);
      if (!worker.ok()) {
        fail(worker.status());
        return;
      }
      for (;;) {
        size_t i = next++;
        if (i >= jobs.size() || pull_cancel.cancelled()) return;
        Status st = fetch_layer(*worker, jobs[i]);
        if (!st.ok()) {
          jobs[i].progress->state = LayerProgress::kFailed;
          fail(st);
          return;
        }
        if (jobs[i].progress->state != LayerProgress::kCached) {
          jobs[i].progress->state = LayerProgress::kDone;  // not when another pull fetched it
        }
        if (log_) log_->Debug("layer " + jobs[i].descriptor.digest.ToString() + " ready");
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!first_error.ok()) {
    if (registry_.cancel && registry_.cancel->cancelled()) {
      return Cancelled("pull of " + ref.ToString() + " cancelled");
    }
    return first_error.WithContext("pull " + ref.ToString());
  }
  RETURN_IF_ERROR(store_->SetRef(ref.ToString(), fetched.digest));
  if (stats) {
    stats->layers_fetched = static_cast<int>(jobs.size()) - layers_waited.load();
    stats->layers_local += layers_waited.load();
    stats->bytes_fetched = counters.bytes;
    stats->requests = counters.requests;
    stats->retries = counters.retries;
    stats->seconds = SecondsSince(start);
  }
  return image;
}

}  // namespace syspgo::oci
