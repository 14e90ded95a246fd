// SPDX-License-Identifier: Apache-2.0
// File: profile/artifact.h
//
// Profiles travel like runtime images: as OCI artifacts whose subject is
// the image they were recorded on, in the image's repository (docs/
// profile.md). A node pushes what it recorded (`syspgo profile push`);
// a CI build pulls every profile pushed for the image and merges them
// (`syspgo profile pull`) for its next build. Found through the referrers
// API, or the referrers tag schema (sha256-<digest>) on registries without
// it; pushes add to that index, never replace other artifacts in it.
//
// Layers: the files of a profile directory (profiles.json, *.llvmprof,
// *.pprof, *.folded), each named by its org.opencontainers.image.title
// annotation. Pulled blobs are checked against their digests and sizes;
// titles are plain file names (nothing outside the directory).
#ifndef SYSPGO_PROFILE_ARTIFACT_H_
#define SYSPGO_PROFILE_ARTIFACT_H_

#include <string>
#include <string_view>

#include "common/status.h"
#include "oci/manifest.h"
#include "oci/reference.h"
#include "oci/registry_client.h"

namespace syspgo::profile {

inline constexpr std::string_view kProfileArtifactType = "application/vnd.syspgo.profile.v1";
inline constexpr std::string_view kProfileIndexMediaType =
    "application/vnd.syspgo.profile.index.v1+json";
inline constexpr std::string_view kLlvmProfileMediaType =
    "application/vnd.syspgo.profile.llvm.v1+text";
inline constexpr std::string_view kPprofMediaType = "application/vnd.syspgo.profile.pprof.v1+gzip";
inline constexpr std::string_view kFoldedMediaType =
    "application/vnd.syspgo.profile.folded.v1+text";

struct PushedProfiles {
  oci::Digest artifact;
  oci::Digest image;  // the image manifest it is an artifact of
  int files = 0;
  bool referrers_api = false;
};

// Pushes the profile directory `dir` (written by record or merge) as an
// artifact of `image` (the image manifest's descriptor). `host` is
// recorded as an annotation (who recorded it).
Result<PushedProfiles> PushProfiles(oci::RegistryClient& client, const std::string& repository,
                                    const oci::Descriptor& image, const std::string& dir,
                                    const std::string& host);

struct PulledProfiles {
  int artifacts = 0;
  int profiles = 0;
  uint64_t samples = 0;
};

// Fetches every profile artifact of the image with manifest digest
// `image` and writes them merged (profile/merge.h) to `out`. NotFound when
// the image has none.
Result<PulledProfiles> PullProfiles(oci::RegistryClient& client, const std::string& repository,
                                    const oci::Digest& image, const std::string& out);

// Both for the image `ref` names now (linux/amd64 of an index), on its
// registry.
Result<PushedProfiles> PushImageProfiles(const oci::RegistryOptions& registry,
                                         const oci::ImageReference& ref, const std::string& dir,
                                         const std::string& host);
Result<PulledProfiles> PullImageProfiles(const oci::RegistryOptions& registry,
                                         const oci::ImageReference& ref, const std::string& out);

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_ARTIFACT_H_
