// SPDX-License-Identifier: Apache-2.0
// File: oci/puller.h
//
// Pulls an image into the LayerStore: manifest (selecting linux/amd64 from an
// index), config, then every missing layer in parallel. Each layer streams
// from the registry through a SHA-256 check of the compressed bytes, into the
// store's blob file and, at the same time, through decompression and tar
// extraction on a second thread, with a second SHA-256 over the uncompressed
// stream checked against the config's diff_id. Only a layer whose both
// digests match is moved under its final name.
#ifndef SYSPGO_OCI_PULLER_H_
#define SYSPGO_OCI_PULLER_H_

#include <functional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/log.h"
#include "common/status.h"
#include "oci/layer_store.h"
#include "oci/manifest.h"
#include "oci/reference.h"
#include "oci/unpack.h"
#include "oci/registry_client.h"

namespace syspgo::oci {

struct PullOptions {
  int jobs = 4;          // layers fetched at once
  bool progress = true;  // draw progress when stderr is a terminal
  std::string os = "linux";
  std::string architecture = "amd64";
};

struct PullStats {
  int layers_total = 0;
  int layers_fetched = 0;
  int layers_local = 0;  // already in the store
  int64_t bytes_fetched = 0;
  int64_t requests = 0;
  int64_t retries = 0;
  double seconds = 0;
};

struct LocalImage {
  ImageReference reference;
  Digest manifest_digest;
  int64_t manifest_size = 0;  // bytes of the manifest document
  ImageManifest manifest;
  ImageConfig config;
  // Unpacked layer directories, bottom layer first.
  std::vector<std::string> layer_paths;
};

// The image manifest a reference names, for one platform when it names an
// index. The manifest is checked against its digest.
struct ResolvedManifest {
  FetchedManifest fetched;  // the image manifest
  ImageManifest manifest;
  Descriptor descriptor;   // of the image manifest (a subject for artifacts)
  std::string index_body;  // the index it was chosen from, if any
};
Result<ResolvedManifest> ResolveImageManifest(RegistryClient& client, const ImageReference& ref,
                                              std::string_view os = "linux",
                                              std::string_view architecture = "amd64");
// The image manifest `digest` names, fetched by that digest (one request,
// whatever tag the repository's reference names now): an index is refused.
Result<ResolvedManifest> FetchImageManifest(RegistryClient& client, const std::string& repository,
                                            const Digest& digest);
// An image manifest already fetched (and checked against its digest):
// parsed, with its descriptor; an index or anything else is refused.
Result<ResolvedManifest> ImageManifestFrom(FetchedManifest fetched);

// Streams one layer's compressed bytes through its checks into `fs` (an
// existing, empty directory), unpacking while they arrive: the size and
// SHA-256 of the compressed bytes against `layer`, the SHA-256 of the
// uncompressed stream against `diff_id`. `produce` calls the sink it is
// given with the blob's bytes in order; `tee`, when set, sees each chunk
// (to keep the blob); `on_received` runs once every byte has arrived. A
// digest mismatch is reported before the unpack error it caused. On error
// `fs` holds a partial tree: the caller removes it.
Status UnpackVerifiedLayer(const Descriptor& layer, const Digest& diff_id, const std::string& fs,
                           const std::function<Status(const BodySink&)>& produce,
                           const BodySink& tee, UnpackStats* stats = nullptr,
                           const std::function<void()>& on_received = {});

class Puller {
 public:
  // store, registry options' pointers and log must outlive the Puller.
  Puller(LayerStore* store, RegistryOptions registry, const Logger* log)
      : store_(store), registry_(std::move(registry)), log_(log) {}

  Result<LocalImage> Pull(const ImageReference& ref, const PullOptions& options,
                          PullStats* stats = nullptr);
  // The image as the store has it, without the network.
  Result<LocalImage> LoadLocal(const ImageReference& ref);
  // Brings the compressed blobs of the image's layers into the store, each
  // checked against its descriptor. A pull keeps only the unpacked layer
  // when the store had it already (from an image with the same layer in
  // another compression, say); building a runtime image needs the blob.
  Status FetchLayerBlobs(const LocalImage& image);

 private:
  Result<LocalImage> Assemble(const ImageReference& ref, const Digest& manifest_digest,
                              const std::string& manifest_body, const std::string& config_body);

  LayerStore* store_;
  RegistryOptions registry_;
  const Logger* log_;
};

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_PULLER_H_
