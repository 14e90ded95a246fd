// SPDX-License-Identifier: Apache-2.0
#include "profile/artifact.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <vector>

#include "common/file_util.h"
#include "profile/merge.h"
#include "profile/profile_dir.h"
#include "oci/artifact.h"
#include "oci/puller.h"

namespace syspgo::profile {
namespace {

constexpr char kTitle[] = "org.opencontainers.image.title";
// An artifact's layers together: what one artifact may cost in memory
// while it is merged in.
constexpr int64_t kMaxArtifactBytes = int64_t{256} << 20;
constexpr size_t kMaxArtifacts = 1000;

std::string_view MediaTypeOf(const std::string& name) {
  if (name == "profiles.json") return kProfileIndexMediaType;
  if (name.ends_with(".llvmprof")) return kLlvmProfileMediaType;
  if (name.ends_with(".pprof")) return kPprofMediaType;
  if (name.ends_with(".folded")) return kFoldedMediaType;
  return {};
}

}  // namespace

Result<PushedProfiles> PushProfiles(oci::RegistryClient& client, const std::string& repository,
                                    const oci::Descriptor& image, const std::string& dir,
                                    const std::string& host) {
  auto opened = ProfileDir::Open(dir);
  if (!opened.ok()) {
    return Status(opened.status().code(),
                  opened.status().message() + " (syspgo profile record or merge writes one)");
  }
  const ProfileIndex& index = opened->index();
  std::vector<std::string> names = {kProfileIndexName};
  if (!index.all.empty()) names.push_back(index.all);
  for (const ProfileBinary& b : index.binaries)
    names.insert(names.end(), b.files.begin(), b.files.end());
  oci::ImageManifest manifest = oci::ArtifactManifest(kProfileArtifactType, image);
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(std::string data, opened->ReadFile(name));
    oci::Descriptor d;
    d.media_type = std::string(MediaTypeOf(name));
    d.digest = oci::Digest::Of(data);
    d.size = static_cast<int64_t>(data.size());
    d.annotations[kTitle] = name;
    RETURN_IF_ERROR(client.PushBlob(repository, d.digest, data));
    manifest.layers.push_back(std::move(d));
  }
  manifest.annotations["io.syspgo.profile.host"] = host;
  manifest.annotations["io.syspgo.profile.samples"] = std::to_string(index.samples);
  // Without a referrers API, added to the tag schema index: every host's
  // profile stays, and other artifacts (the runtime image) too.
  ASSIGN_OR_RETURN(oci::PushedArtifact artifact,
                   oci::PushArtifact(client, repository, manifest, oci::TagIndexEntry::kAdd));
  PushedProfiles pushed;
  pushed.artifact = artifact.digest;
  pushed.files = static_cast<int>(manifest.layers.size());
  pushed.referrers_api = artifact.referrers_api;
  return pushed;
}

Result<PulledProfiles> PullProfiles(oci::RegistryClient& client, const std::string& repository,
                                    const oci::Digest& image, const std::string& out) {
  std::vector<oci::Descriptor> artifacts;
  ASSIGN_OR_RETURN(auto referrers,
                   client.GetReferrers(repository, image, std::string(kProfileArtifactType)));
  if (!referrers) {
    ASSIGN_OR_RETURN(oci::ImageIndex tag_index, oci::ReferrersTagIndex(client, repository, image));
    referrers = std::move(tag_index);
  }
  for (const oci::Descriptor& d : referrers->manifests) {
    if (d.artifact_type == kProfileArtifactType) artifacts.push_back(d);
  }
  if (artifacts.empty()) {
    return NotFound("no profiles were pushed for " + repository + "@" + image.ToString());
  }
  if (artifacts.size() > kMaxArtifacts)
    artifacts.erase(artifacts.begin(), artifacts.end() - kMaxArtifacts);
  // Each artifact is read into memory (its layers are bounded) and merged
  // in; nothing is written to `out` until every one is in, and then all
  // at once.
  ProfileMerger merger;
  for (const oci::Descriptor& a : artifacts) {
    // By digest: the registry's reply must hash to it.
    ASSIGN_OR_RETURN(oci::FetchedManifest fetched,
                     client.GetManifest(repository, a.digest.ToString()));
    ASSIGN_OR_RETURN(oci::ImageManifest m, oci::ParseImageManifest(fetched.body));
    const std::string what = "profile artifact " + a.digest.ToString();
    if (m.artifact_type != kProfileArtifactType || !m.subject || m.subject->digest != image) {
      return Corruption("artifact " + a.digest.ToString() + " is listed as a profile of " +
                        image.ToString() + " but is not one");
    }
    std::map<std::string, std::string> files;
    int64_t total = 0;
    for (const oci::Descriptor& layer : m.layers) {
      auto title = layer.annotations.find(kTitle);
      if (title == layer.annotations.end() || !IsProfileFileName(title->second) ||
          MediaTypeOf(title->second).empty() || MediaTypeOf(title->second) != layer.media_type) {
        return Corruption(what + " has a layer without a profile file name");
      }
      if (files.count(title->second)) return Corruption(what + ": two layers are " + title->second);
      if (layer.size < 0 || layer.size > static_cast<int64_t>(kMaxProfileFileBytes) ||
          (total += layer.size) > kMaxArtifactBytes) {
        return ResourceExhausted(what + ": " + title->second + " is too large (" +
                                 std::to_string(layer.size) + " bytes; docs/profile.md, Limits)");
      }
      // Checked against the descriptor's digest and size.
      ASSIGN_OR_RETURN(files[title->second], client.FetchSmallBlob(repository, layer));
    }
    auto index_text = files.find(kProfileIndexName);
    if (index_text == files.end()) return Corruption(what + " has no profiles.json");
    auto index = ParseProfileIndex(index_text->second);
    if (!index.ok()) return Status(index.status().code(), what + ": " + index.status().message());
    auto read = [&](const std::string& name) -> Result<std::string> {
      auto it = files.find(name);
      if (it == files.end())
        return Corruption(what + ": profiles.json names " + name + ", not in it");
      return std::move(it->second);
    };
    RETURN_IF_ERROR(merger.Add(*index, read, what));
  }
  ASSIGN_OR_RETURN(MergeSummary merged, merger.Write(out));
  PulledProfiles pulled;
  pulled.artifacts = merged.inputs;
  pulled.profiles = merged.profiles;
  pulled.samples = merged.samples;
  return pulled;
}

Result<PushedProfiles> PushImageProfiles(const oci::RegistryOptions& registry,
                                         const oci::ImageReference& ref, const std::string& dir,
                                         const std::string& host) {
  ASSIGN_OR_RETURN(oci::RegistryClient client, oci::RegistryClient::Create(ref.registry, registry));
  ASSIGN_OR_RETURN(oci::ResolvedManifest resolved, oci::ResolveImageManifest(client, ref));
  ASSIGN_OR_RETURN(PushedProfiles pushed,
                   PushProfiles(client, ref.repository, resolved.descriptor, dir, host));
  pushed.image = resolved.descriptor.digest;
  return pushed;
}

Result<PulledProfiles> PullImageProfiles(const oci::RegistryOptions& registry,
                                         const oci::ImageReference& ref, const std::string& out) {
  ASSIGN_OR_RETURN(oci::RegistryClient client, oci::RegistryClient::Create(ref.registry, registry));
  ASSIGN_OR_RETURN(oci::ResolvedManifest resolved, oci::ResolveImageManifest(client, ref));
  return PullProfiles(client, ref.repository, resolved.descriptor.digest, out);
}

}  // namespace syspgo::profile
