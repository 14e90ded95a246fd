// SPDX-License-Identifier: Apache-2.0
#include "oci/artifact.h"

#include <algorithm>

namespace syspgo::oci {

std::string ReferrersTag(const Digest& subject) { return subject.algorithm + "-" + subject.hex; }

Result<ImageIndex> ReferrersTagIndex(RegistryClient& client, const std::string& repository,
                                     const Digest& subject) {
  auto fetched = client.GetManifest(repository, ReferrersTag(subject));
  if (!fetched.ok() && fetched.status().code() == StatusCode::kNotFound) {
    ImageIndex empty;
    empty.media_type = std::string(media_type::kOciIndex);
    return empty;
  }
  if (!fetched.ok()) return fetched.status();
  return ParseImageIndex(fetched->body);
}

ImageManifest ArtifactManifest(std::string_view artifact_type, const Descriptor& subject) {
  ImageManifest m;
  m.media_type = std::string(media_type::kOciManifest);
  m.artifact_type = std::string(artifact_type);
  m.config.media_type = std::string(media_type::kOciEmpty);
  m.config.digest = Digest::Of(kEmptyConfigJson);
  m.config.size = static_cast<int64_t>(kEmptyConfigJson.size());
  Descriptor s;
  s.media_type = subject.media_type;
  s.digest = subject.digest;
  s.size = subject.size;
  m.subject = s;
  return m;
}

Result<PushedArtifact> PushArtifact(RegistryClient& client, const std::string& repository,
                                    const ImageManifest& manifest, TagIndexEntry entry) {
  if (!manifest.subject) return InvalidArgument("an artifact manifest without a subject");
  if (manifest.config.digest != Digest::Of(kEmptyConfigJson)) {
    return InvalidArgument("an artifact manifest whose config is not the empty one");
  }
  RETURN_IF_ERROR(
      client.PushBlob(repository, manifest.config.digest, std::string(kEmptyConfigJson)));
  const std::string body = SerializeImageManifest(manifest);
  PushedArtifact pushed;
  std::string subject_header;
  ASSIGN_OR_RETURN(pushed.digest,
                   client.PushManifest(repository, Digest::Of(body).ToString(),
                                       media_type::kOciManifest, body, &subject_header));
  if (!subject_header.empty()) {
    pushed.referrers_api = true;
    return pushed;
  }
  const Digest& subject = manifest.subject->digest;
  ASSIGN_OR_RETURN(ImageIndex index, ReferrersTagIndex(client, repository, subject));
  std::erase_if(index.manifests, [&](const Descriptor& d) {
    return d.digest == pushed.digest ||
           (entry == TagIndexEntry::kReplaceSameType && d.artifact_type == manifest.artifact_type);
  });
  Descriptor e;
  e.media_type = std::string(media_type::kOciManifest);
  e.digest = pushed.digest;
  e.size = static_cast<int64_t>(body.size());
  e.artifact_type = manifest.artifact_type;
  e.annotations = manifest.annotations;
  index.manifests.push_back(std::move(e));
  index.media_type = std::string(media_type::kOciIndex);
  pushed.referrers_tag = ReferrersTag(subject);
  RETURN_IF_ERROR(client
                      .PushManifest(repository, pushed.referrers_tag, media_type::kOciIndex,
                                    SerializeImageIndex(index))
                      .status());
  return pushed;
}

}  // namespace syspgo::oci
