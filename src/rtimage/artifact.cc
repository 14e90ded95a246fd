// SPDX-License-Identifier: Apache-2.0
#include "rtimage/artifact.h"

#include <sys/stat.h>

#include <zstd.h>

#include <algorithm>
#include <thread>

#include "common/file_util.h"
#include "common/sha256.h"

namespace syspgo::rtimage {
namespace {

Result<oci::Descriptor> FileDescriptor(const std::string& path, std::string_view media_type,
                                       const std::string& digest, std::string_view title) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  oci::Descriptor d;
  d.media_type = std::string(media_type);
  ASSIGN_OR_RETURN(d.digest, oci::Digest::Parse(digest));
  d.size = st.st_size;
  d.annotations["org.opencontainers.image.title"] = std::string(title);
  return d;
}

std::optional<oci::Descriptor> LayerOfType(const std::vector<oci::Descriptor>& layers,
                                           std::string_view type) {
  for (const oci::Descriptor& d : layers) {
    if (d.media_type == type) return d;
  }
  return std::nullopt;
}

}  // namespace

Result<PushedRuntimeImage> PushRuntimeImage(oci::RegistryClient& client,
                                            const std::string& repository,
                                            const oci::Descriptor& image, const std::string& dir) {
  ASSIGN_OR_RETURN(RuntimeImageDir local, RuntimeImageDir::Open(dir));
  const Metadata& m = local.metadata();
  if (m.image_digest != image.digest.ToString()) {
    return FailedPrecondition("runtime image in " + dir + " was built for image " + m.image_digest +
                              ", not " + image.digest.ToString());
  }
  RETURN_IF_ERROR(local.VerifyBlob());
  const std::string index_path = JoinPath(dir, kIndexFile);
  const std::string blob_path = JoinPath(dir, kBlobFile);
  const std::string& metadata_bytes = local.metadata_bytes();

  oci::ImageManifest manifest = oci::ArtifactManifest(kArtifactType, image);
  // The metadata is fetched before every start: it travels compressed.
  std::string metadata_zstd(ZSTD_compressBound(metadata_bytes.size()), '\0');
  const size_t packed = ZSTD_compress(metadata_zstd.data(), metadata_zstd.size(),
                                      metadata_bytes.data(), metadata_bytes.size(), 19);
  if (ZSTD_isError(packed)) {
    return Internal(std::string("compressing the metadata: ") + ZSTD_getErrorName(packed));
  }
  metadata_zstd.resize(packed);
  oci::Descriptor md;
  md.media_type = std::string(kMetadataZstdMediaType);
  md.digest = oci::Digest::Of(metadata_zstd);
  md.size = static_cast<int64_t>(metadata_zstd.size());
  ASSIGN_OR_RETURN(oci::Descriptor ix,
                   FileDescriptor(index_path, kIndexMediaType, m.index_digest, "index"));
  ASSIGN_OR_RETURN(oci::Descriptor bl,
                   FileDescriptor(blob_path, kBlobMediaType, m.blob_digest, "blob"));
  manifest.layers = {md, ix, bl};
  manifest.annotations["io.syspgo.runtime-image.traced-bytes"] = std::to_string(m.traced_bytes);
  std::vector<oci::Descriptor> layers = manifest.layers;
  for (oci::Descriptor& d : layers) d.annotations.clear();
  manifest.annotations[std::string(kLayersAnnotation)] = oci::SerializeDescriptors(layers);

  RETURN_IF_ERROR(client.PushBlob(repository, md.digest, metadata_zstd));
  RETURN_IF_ERROR(client.PushBlobFromFile(repository, ix.digest, ix.size, index_path));
  RETURN_IF_ERROR(client.PushBlobFromFile(repository, bl.digest, bl.size, blob_path));
  // Without a referrers API, this artifact is the only runtime image in
  // the tag schema index (an older one of ours is replaced).
  ASSIGN_OR_RETURN(
      oci::PushedArtifact artifact,
      oci::PushArtifact(client, repository, manifest, oci::TagIndexEntry::kReplaceSameType));
  PushedRuntimeImage pushed;
  pushed.metadata = md;
  pushed.artifact = artifact.digest;
  pushed.referrers_api = artifact.referrers_api;
  pushed.fallback_tag = artifact.referrers_tag;
  return pushed;
}

Result<std::optional<FoundRuntimeImage>> FindRuntimeImage(oci::RegistryClient& client,
                                                          const std::string& repository,
                                                          const oci::Digest& image,
                                                          oci::RegistryClient* second) {
  FoundRuntimeImage found;
  std::optional<Result<oci::ImageIndex>> tag_index;
  std::thread tag_lookup;
  if (second) {
    tag_lookup =
        std::thread([&] { tag_index = oci::ReferrersTagIndex(*second, repository, image); });
  }
  auto referrers = client.GetReferrers(repository, image, std::string(kArtifactType));
  if (tag_lookup.joinable()) tag_lookup.join();
  RETURN_IF_ERROR(referrers.status());
  oci::ImageIndex index;
  if (*referrers) {
    index = std::move(**referrers);
    found.referrers_api = true;
  } else {
    if (!tag_index) tag_index = oci::ReferrersTagIndex(client, repository, image);
    ASSIGN_OR_RETURN(index, std::move(*tag_index));
  }
  auto newest =
      std::find_if(index.manifests.rbegin(), index.manifests.rend(),
                   [](const oci::Descriptor& d) { return d.artifact_type == kArtifactType; });
  if (newest == index.manifests.rend()) return std::optional<FoundRuntimeImage>();
  found.artifact = newest->digest;
  std::vector<oci::Descriptor> layers;
  auto annotated = newest->annotations.find(std::string(kLayersAnnotation));
  if (annotated != newest->annotations.end()) {
    auto parsed = oci::ParseDescriptors(annotated->second);
    if (!parsed.ok()) {
      return parsed.status().WithContext("runtime image " + found.artifact.ToString() +
                                         ": annotation " + std::string(kLayersAnnotation));
    }
    layers = std::move(*parsed);
  } else {
    ASSIGN_OR_RETURN(oci::FetchedManifest fetched,
                     client.GetManifest(repository, found.artifact.ToString()));
    ASSIGN_OR_RETURN(oci::ImageManifest m, oci::ParseImageManifest(fetched.body));
    if (m.artifact_type != kArtifactType) {
      return Corruption("artifact " + found.artifact.ToString() + " is not a runtime image (" +
                        m.artifact_type + ")");
    }
    if (!m.subject || m.subject->digest != image) {
      return FailedPrecondition("runtime image " + found.artifact.ToString() + " refers to image " +
                                (m.subject ? m.subject->digest.ToString() : "<none>") + ", not " +
                                image.ToString());
    }
    layers = m.layers;
    found.manifest = std::move(m);
  }
  auto md = LayerOfType(layers, kMetadataZstdMediaType);
  if (!md) md = LayerOfType(layers, kMetadataMediaType);
  auto ix = LayerOfType(layers, kIndexMediaType);
  auto bl = LayerOfType(layers, kBlobMediaType);
  if (!md || !ix || !bl) {
    return Corruption("runtime image " + found.artifact.ToString() +
                      " lacks its metadata, index or blob layer");
  }
  found.metadata = *md;
  found.index = *ix;
  found.blob = *bl;
  return std::optional<FoundRuntimeImage>(std::move(found));
}

Result<FetchedMetadata> FetchRuntimeMetadata(oci::RegistryClient& client,
                                             const std::string& repository,
                                             const FoundRuntimeImage& found,
                                             const oci::Digest& image, bool with_index) {
  FetchedMetadata out;
  ASSIGN_OR_RETURN(out.metadata_bytes, client.FetchSmallBlob(repository, found.metadata));
  if (found.metadata.media_type == kMetadataZstdMediaType) {
    constexpr unsigned long long kMaxMetadata = 512ull << 20;
    const unsigned long long size =
        ZSTD_getFrameContentSize(out.metadata_bytes.data(), out.metadata_bytes.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxMetadata) {
      return Corruption("runtime image " + found.artifact.ToString() +
                        ": the compressed metadata has no valid size");
    }
    std::string plain(size, '\0');
    const size_t n = ZSTD_decompress(plain.data(), plain.size(), out.metadata_bytes.data(),
                                     out.metadata_bytes.size());
    if (ZSTD_isError(n) || n != size) {
      return Corruption("runtime image " + found.artifact.ToString() +
                        ": the compressed metadata does not decompress");
    }
    out.metadata_bytes = std::move(plain);
  }
  auto metadata = DecodeMetadata(out.metadata_bytes);
  if (!metadata.ok()) return metadata.status().WithContext(found.artifact.ToString());
  out.metadata = std::move(*metadata);
  const Metadata& m = out.metadata;
  if (m.image_digest != image.ToString()) {
    return FailedPrecondition("runtime image " + found.artifact.ToString() +
                              " was built for image " + m.image_digest + ", not " +
                              image.ToString());
  }
  if (m.blob_digest != found.blob.digest.ToString() ||
      m.blob_size != static_cast<uint64_t>(found.blob.size) ||
      m.index_digest != found.index.digest.ToString()) {
    return Corruption("runtime image " + found.artifact.ToString() +
                      ": the artifact's blob or index is not the one its metadata describes");
  }
  if (with_index) {
    ASSIGN_OR_RETURN(out.index_bytes, client.FetchSmallBlob(repository, found.index));
  }
  return out;
}

Status CheckBinding(const Metadata& m, const oci::ImageManifest& manifest,
                    const oci::ImageConfig& config) {
  auto mismatch = [&](const std::string& what) {
    return FailedPrecondition("runtime image for " + m.image_digest + ": " + what);
  };
  if (m.layers.size() != manifest.layers.size() || m.layers.size() != config.diff_ids.size()) {
    return mismatch("it has " + std::to_string(m.layers.size()) + " layers, the image " +
                    std::to_string(manifest.layers.size()) +
                    " (config: " + std::to_string(config.diff_ids.size()) + ")");
  }
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const LayerInfo& l = m.layers[i];
    const oci::Descriptor& d = manifest.layers[i];
    if (l.digest != d.digest.ToString() || l.media_type != d.media_type ||
        l.compressed_size != static_cast<uint64_t>(d.size) ||
        l.diff_id != config.diff_ids[i].ToString()) {
      return mismatch("its layer " + std::to_string(i) + " (" + l.digest + ", " + l.diff_id +
                      ") is not the image's (" + d.digest.ToString() + ", " +
                      config.diff_ids[i].ToString() + ")");
    }
  }
  return Status::Ok();
}

Result<ChunkFetchReport> FetchChunks(oci::RegistryClient& client, const std::string& repository,
                                     const oci::Descriptor& blob, const Metadata& metadata,
                                     ChunkStore& store, uint64_t max_gap) {
  ChunkFetchReport report;
  report.chunks = metadata.chunks.size();
  std::vector<uint32_t> missing;
  for (uint32_t i = 0; i < metadata.chunks.size(); ++i) {
    if (store.Has(metadata.chunks[i].digest)) {
      ++report.chunks_local;
    } else {
      missing.push_back(i);
    }
  }
  // Chunks are in ascending blob order: group neighbours into one request.
  for (size_t first = 0; first < missing.size();) {
    size_t last = first;
    while (last + 1 < missing.size()) {
      const Chunk& cur = metadata.chunks[missing[last]];
      const Chunk& next = metadata.chunks[missing[last + 1]];
      if (next.blob_offset - (cur.blob_offset + cur.stored) > max_gap) break;
      ++last;
    }
    const uint64_t begin = metadata.chunks[missing[first]].blob_offset;
    const Chunk& tail = metadata.chunks[missing[last]];
    const uint64_t end = tail.blob_offset + tail.stored;
    auto data = client.FetchBlobRange(repository, blob.digest, static_cast<int64_t>(begin),
                                      static_cast<int64_t>(end - begin));
    if (!data.ok()) return data.status().WithContext("runtime image blob");
    ++report.requests;
    report.bytes_fetched += data->size();
    if (data->size() != end - begin) {
      return Corruption("runtime image blob " + blob.digest.ToString() + " is truncated: bytes " +
                        std::to_string(begin) + "-" + std::to_string(end) + " gave " +
                        std::to_string(data->size()));
    }
    for (size_t k = first; k <= last; ++k) {
      const Chunk& c = metadata.chunks[missing[k]];
      ASSIGN_OR_RETURN(std::string bytes, DecodeChunk(c, missing[k],
                                                      std::string_view(*data).substr(
                                                          c.blob_offset - begin, c.stored)));
      RETURN_IF_ERROR(store.PutVerified(c.digest, bytes));
      ++report.chunks_fetched;
    }
    first = last + 1;
  }
  return report;
}

}  // namespace syspgo::rtimage
