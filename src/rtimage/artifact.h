// SPDX-License-Identifier: Apache-2.0
// File: rtimage/artifact.h
//
// A runtime image in a registry: an OCI artifact next to the image it was
// built for (docs/runtime-image.md, "In the registry"). The artifact
// manifest has our artifactType, the empty config, the metadata, index and
// blob as layers, and `subject` = the image manifest, so the image itself
// is untouched. It is found from the image's manifest digest alone: the
// referrers API where the registry has it, else the tag schema fallback
// (tag "sha256-<hex>" holding an index of referrers).
//
// The artifact manifest's annotation kLayersAnnotation repeats its three
// layer descriptors; the referrers API copies it into the referrers index
// and we write it into the tag schema index, so a start finds the metadata
// without fetching the artifact manifest (one round trip fewer).
//
// Integrity: the artifact must name the image as its subject (checked when
// its manifest is fetched), the metadata must name the image's digest, the
// blob and index must match the digests the metadata records, and every
// chunk is checked before it is stored. The metadata check alone decides
// when the descriptors come from the annotation: whoever can write the
// index can write an artifact manifest too.
#ifndef SYSPGO_RTIMAGE_ARTIFACT_H_
#define SYSPGO_RTIMAGE_ARTIFACT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "oci/artifact.h"
#include "oci/manifest.h"
#include "oci/registry_client.h"
#include "rtimage/chunk_store.h"
#include "rtimage/format.h"

namespace syspgo::rtimage {

inline constexpr std::string_view kArtifactType = "application/vnd.syspgo.runtime-image.v1";
inline constexpr std::string_view kMetadataMediaType =
    "application/vnd.syspgo.runtime-image.metadata.v1";
// The same bytes in one zstd frame (what push writes: a start fetches it).
inline constexpr std::string_view kMetadataZstdMediaType =
    "application/vnd.syspgo.runtime-image.metadata.v1+zstd";
inline constexpr std::string_view kIndexMediaType = "application/vnd.syspgo.runtime-image.index.v1";
inline constexpr std::string_view kBlobMediaType = "application/vnd.syspgo.runtime-image.blob.v1";
// Annotation: the artifact's layer descriptors as a JSON array.
inline constexpr std::string_view kLayersAnnotation = "io.syspgo.runtime-image.layers";

struct PushedRuntimeImage {
  oci::Digest artifact;
  oci::Descriptor metadata;    // the metadata layer (what signatures name)
  bool referrers_api = false;  // the registry indexed it itself
  std::string fallback_tag;    // set when we updated the tag schema index
};

// Pushes the runtime image in `dir` as an artifact whose subject is
// `image` (the image manifest's descriptor). Refuses a runtime image built
// for another image, or one whose files fail their checks.
Result<PushedRuntimeImage> PushRuntimeImage(oci::RegistryClient& client,
                                            const std::string& repository,
                                            const oci::Descriptor& image, const std::string& dir);

struct FoundRuntimeImage {
  oci::Digest artifact;
  // Fetched only when the index entry lacks kLayersAnnotation.
  std::optional<oci::ImageManifest> manifest;
  oci::Descriptor metadata;
  oci::Descriptor index;
  oci::Descriptor blob;
  bool referrers_api = false;  // found through the API, not the tag schema
};

// The newest runtime image of the image with manifest digest `image`;
// nullopt when there is none. A fetched artifact manifest's subject must
// be `image`. With `second` (another connection to the same registry), the
// tag schema index is asked for while the referrers API is, not after it.
Result<std::optional<FoundRuntimeImage>> FindRuntimeImage(oci::RegistryClient& client,
                                                          const std::string& repository,
                                                          const oci::Digest& image,
                                                          oci::RegistryClient* second = nullptr);

struct FetchedMetadata {
  Metadata metadata;
  std::string metadata_bytes;
  std::string index_bytes;
};

// Fetches and checks metadata and (with_index) index: the metadata must be
// for `image`, and the blob and index descriptors must match what it
// records, so the index can also be fetched later by its descriptor.
Result<FetchedMetadata> FetchRuntimeMetadata(oci::RegistryClient& client,
                                             const std::string& repository,
                                             const FoundRuntimeImage& found,
                                             const oci::Digest& image, bool with_index = true);

// The runtime image describes this image and no other: its layers are the
// manifest's (digest, media type, size) and the config's diff_ids, in
// order. The metadata naming the image's digest is not enough: the layer
// table is what the fallback fetches by.
Status CheckBinding(const Metadata& metadata, const oci::ImageManifest& manifest,
                    const oci::ImageConfig& config);

struct ChunkFetchReport {
  uint64_t chunks = 0;
  uint64_t chunks_local = 0;  // already in the chunk store: not fetched
  uint64_t chunks_fetched = 0;
  uint64_t bytes_fetched = 0;
  uint64_t requests = 0;
};

// Fetches the chunks the store lacks, with as few Range requests as gaps of
// at most max_gap bytes allow, checks each, and stores it.
Result<ChunkFetchReport> FetchChunks(oci::RegistryClient& client, const std::string& repository,
                                     const oci::Descriptor& blob, const Metadata& metadata,
                                     ChunkStore& store, uint64_t max_gap = 1 << 20);

}  // namespace syspgo::rtimage

#endif  // SYSPGO_RTIMAGE_ARTIFACT_H_
