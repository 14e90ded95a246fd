// SPDX-License-Identifier: Apache-2.0
#include "profile/artifact.h"

#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/file_util.h"
#include "profile/merge.h"
#include "rtimage/artifact.h"

namespace syspgo::profile {
namespace {

constexpr std::string_view kEmptyConfig = "{}";
constexpr char kTitle[] = "org.opencontainers.image.title";
constexpr int64_t kMaxFileBytes = int64_t{64} << 20;  // what FetchSmallBlob holds
constexpr size_t kMaxArtifacts = 1000;

std::string_view MediaTypeOf(const std::string& name) {
  if (name == "profiles.json") return kProfileIndexMediaType;
  if (name.ends_with(".llvmprof")) return kLlvmProfileMediaType;
  if (name.ends_with(".pprof")) return kPprofMediaType;
  if (name.ends_with(".folded")) return kFoldedMediaType;
  return {};
}

// A file name a pulled artifact may use: one path component, of the kinds
// a profile directory holds.
bool SafeName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == '+';
    if (!ok) return false;
  }
  return !MediaTypeOf(name).empty();
}

}  // namespace

Result<PushedProfiles> PushProfiles(oci::RegistryClient& client, const std::string& repository,
                                    const oci::Descriptor& image, const std::string& dir,
                                    const std::string& host) {
  ASSIGN_OR_RETURN(std::string index_text, ReadFileToString(JoinPath(dir, "profiles.json")));
  auto index = nlohmann::json::parse(index_text, nullptr, false);
  if (!index.is_object() || !index.contains("binaries")) {
    return InvalidArgument(
        dir + "/profiles.json is not a profile index (syspgo profile record writes one)");
  }
  std::vector<std::string> names = {"profiles.json"};
  if (index.contains("all") && index["all"].is_string())
    names.push_back(BaseName(index["all"].get<std::string>()));
  for (const auto& b : index["binaries"]) {
    for (const auto& f : b.value("files", nlohmann::json::array()))
      names.push_back(BaseName(f.get<std::string>()));
  }
  oci::ImageManifest manifest;
  manifest.media_type = std::string(oci::media_type::kOciManifest);
  manifest.artifact_type = std::string(kProfileArtifactType);
  manifest.config.media_type = std::string(oci::media_type::kOciEmpty);
  manifest.config.digest = oci::Digest::Of(kEmptyConfig);
  manifest.config.size = static_cast<int64_t>(kEmptyConfig.size());
  RETURN_IF_ERROR(client.PushBlob(repository, manifest.config.digest, std::string(kEmptyConfig)));
  for (const std::string& name : names) {
    if (!SafeName(name)) return InvalidArgument(dir + ": " + name + " is not a profile file name");
    ASSIGN_OR_RETURN(std::string data, ReadFileToString(JoinPath(dir, name), kMaxFileBytes));
    oci::Descriptor d;
    d.media_type = std::string(MediaTypeOf(name));
    d.digest = oci::Digest::Of(data);
    d.size = static_cast<int64_t>(data.size());
    d.annotations[kTitle] = name;
    RETURN_IF_ERROR(client.PushBlob(repository, d.digest, data));
    manifest.layers.push_back(std::move(d));
  }
  oci::Descriptor subject;
  subject.media_type = image.media_type;
  subject.digest = image.digest;
  subject.size = image.size;
  manifest.subject = subject;
  manifest.annotations["io.syspgo.profile.host"] = host;
  manifest.annotations["io.syspgo.profile.samples"] =
      std::to_string(index.value("samples", uint64_t{0}));
  const std::string body = oci::SerializeImageManifest(manifest);
  PushedProfiles pushed;
  pushed.files = static_cast<int>(manifest.layers.size());
  std::string subject_header;
  ASSIGN_OR_RETURN(pushed.artifact,
                   client.PushManifest(repository, oci::Digest::Of(body).ToString(),
                                       oci::media_type::kOciManifest, body, &subject_header));
  if (!subject_header.empty()) {
    pushed.referrers_api = true;
    return pushed;
  }
  // No referrers API: add to the tag schema index (every host's profile
  // stays; other artifacts, such as the runtime image, too).
  ASSIGN_OR_RETURN(oci::ImageIndex tag_index,
                   rtimage::FallbackIndex(client, repository, image.digest));
  oci::Descriptor entry;
  entry.media_type = std::string(oci::media_type::kOciManifest);
  entry.digest = pushed.artifact;
  entry.size = static_cast<int64_t>(body.size());
  entry.artifact_type = std::string(kProfileArtifactType);
  entry.annotations = manifest.annotations;
  std::erase_if(tag_index.manifests,
                [&](const oci::Descriptor& d) { return d.digest == entry.digest; });
  tag_index.manifests.push_back(entry);
  tag_index.media_type = std::string(oci::media_type::kOciIndex);
  RETURN_IF_ERROR(client
                      .PushManifest(repository, rtimage::FallbackTag(image.digest),
                                    oci::media_type::kOciIndex, oci::SerializeImageIndex(tag_index))
                      .status());
  return pushed;
}

Result<PulledProfiles> PullProfiles(oci::RegistryClient& client, const std::string& repository,
                                    const oci::Digest& image, const std::string& out) {
  std::vector<oci::Descriptor> artifacts;
  ASSIGN_OR_RETURN(auto referrers,
                   client.GetReferrers(repository, image, std::string(kProfileArtifactType)));
  if (!referrers) {
    ASSIGN_OR_RETURN(oci::ImageIndex tag_index, rtimage::FallbackIndex(client, repository, image));
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
  RETURN_IF_ERROR(MakeDirs(out, 0755));
  ASSIGN_OR_RETURN(TempDir parts, TempDir::Create(out, ".pull-"));
  std::vector<std::string> dirs;
  for (const oci::Descriptor& a : artifacts) {
    // By digest: the registry's reply must hash to it.
    ASSIGN_OR_RETURN(oci::FetchedManifest fetched,
                     client.GetManifest(repository, a.digest.ToString()));
    ASSIGN_OR_RETURN(oci::ImageManifest m, oci::ParseImageManifest(fetched.body));
    if (m.artifact_type != kProfileArtifactType || !m.subject || m.subject->digest != image) {
      return Corruption("artifact " + a.digest.ToString() + " is listed as a profile of " +
                        image.ToString() + " but is not one");
    }
    const std::string dir = JoinPath(parts.path(), std::to_string(dirs.size()));
    RETURN_IF_ERROR(MakeDirs(dir, 0755));
    for (const oci::Descriptor& layer : m.layers) {
      auto title = layer.annotations.find(kTitle);
      if (title == layer.annotations.end() || !SafeName(title->second) ||
          MediaTypeOf(title->second) != layer.media_type) {
        return Corruption("profile artifact " + a.digest.ToString() +
                          " has a layer without a profile file name");
      }
      if (layer.size < 0 || layer.size > kMaxFileBytes) {
        return Corruption("profile artifact " + a.digest.ToString() + ": " + title->second +
                          " is too large");
      }
      // Checked against the descriptor's digest and size.
      ASSIGN_OR_RETURN(std::string data, client.FetchSmallBlob(repository, layer));
      RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, title->second), data, 0644, false));
    }
    dirs.push_back(dir);
  }
  ASSIGN_OR_RETURN(MergeSummary merged, MergeProfiles(dirs, out));
  PulledProfiles pulled;
  pulled.artifacts = static_cast<int>(dirs.size());
  pulled.profiles = merged.profiles;
  pulled.samples = merged.samples;
  return pulled;
}

}  // namespace syspgo::profile
