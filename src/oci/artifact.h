// SPDX-License-Identifier: Apache-2.0
// File: oci/artifact.h
//
// OCI artifacts that refer to an image (runtime images, profiles): a
// manifest with an artifactType, the empty config, its own layers and
// `subject` = the image's manifest, so the image itself is untouched.
// They are found from the image's digest alone: through the referrers API
// where the registry has it, else through the referrers tag schema (tag
// "sha256-<hex>" holding an index of the subject's artifacts), which the
// pusher keeps (OCI distribution spec 1.1, "Referrers tag schema").
#ifndef SYSPGO_OCI_ARTIFACT_H_
#define SYSPGO_OCI_ARTIFACT_H_

#include <string>
#include <string_view>

#include "common/status.h"
#include "oci/manifest.h"
#include "oci/registry_client.h"

namespace syspgo::oci {

// The empty config artifacts carry (media type kOciEmpty).
inline constexpr std::string_view kEmptyConfigJson = "{}";

// The referrers tag schema's tag for a subject digest: "sha256-<hex>".
std::string ReferrersTag(const Digest& subject);
// The tag schema index of `subject` (every artifact type), or an empty
// one when the tag does not exist.
Result<ImageIndex> ReferrersTagIndex(RegistryClient& client, const std::string& repository,
                                     const Digest& subject);

// An OCI manifest of type `artifact_type` about `subject`, with the empty
// config; the caller adds the layers and annotations.
ImageManifest ArtifactManifest(std::string_view artifact_type, const Descriptor& subject);

// Where the registry has no referrers API, what a push does to the
// subject's tag schema index.
enum class TagIndexEntry {
  kAdd,              // beside the other artifacts (each digest once)
  kReplaceSameType,  // instead of the artifacts of its artifactType
};

struct PushedArtifact {
  Digest digest;               // of the artifact manifest
  bool referrers_api = false;  // the registry indexed it itself
  std::string referrers_tag;   // set when we updated the tag schema index
};

// Pushes the empty config and `manifest` (an ArtifactManifest whose layers
// are in the registry already) to `repository`, and, when the registry
// does not index referrers itself (no OCI-Subject header in its answer),
// adds it to the subject's tag schema index as `entry` says, with the
// manifest's annotations (a start reads them without fetching it).
Result<PushedArtifact> PushArtifact(RegistryClient& client, const std::string& repository,
                                    const ImageManifest& manifest, TagIndexEntry entry);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_ARTIFACT_H_
