// SPDX-License-Identifier: Apache-2.0
// File: oci/manifest.h
//
// OCI image manifests, image indexes and image configs, and the Docker v2
// schema 2 equivalents. Parsing checks every field it uses and returns
// kCorruption for malformed documents; it never throws.
#ifndef SYSPGO_OCI_MANIFEST_H_
#define SYSPGO_OCI_MANIFEST_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "oci/reference.h"

namespace syspgo::oci {

namespace media_type {
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciEmpty = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayerGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}  // namespace media_type

// The Accept header value for manifest requests: every type we can read.
std::string ManifestAcceptHeader();

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::string artifact_type;
  std::optional<Platform> platform;
  std::map<std::string, std::string> annotations;
};

enum class Compression { kNone, kGzip, kZstd };
std::string_view CompressionName(Compression c);
// The compression a layer media type declares; kCorruption if it is not a
// layer type we can unpack.
Result<Compression> LayerCompression(std::string_view media_type);

struct ImageManifest {
  std::string media_type;  // kOciManifest or kDockerManifest
  Descriptor config;
  std::vector<Descriptor> layers;
  std::string artifact_type;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
};

struct ImageIndex {
  std::string media_type;  // kOciIndex or kDockerManifestList
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
};

// Either kind of document a manifest endpoint can return.
struct ManifestDocument {
  std::optional<ImageManifest> manifest;
  std::optional<ImageIndex> index;
};

// content_type is the HTTP Content-Type (may be empty); the document's own
// mediaType field and its shape decide when the header is generic.
Result<ManifestDocument> ParseManifestDocument(std::string_view content_type,
                                               std::string_view body);
Result<ImageManifest> ParseImageManifest(std::string_view body);
Result<ImageIndex> ParseImageIndex(std::string_view body);

// The manifest in the index for os/architecture (variant ignored when the
// request names none); kNotFound naming the platforms on offer otherwise.
Result<Descriptor> SelectPlatform(const ImageIndex& index, std::string_view os,
                                  std::string_view architecture);

struct ImageConfig {
  std::string created;  // RFC 3339, "" when the config has none
  std::string architecture;
  std::string os;
  std::string user;
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string stop_signal;
  std::vector<std::string> exposed_ports;
  std::map<std::string, std::string> labels;
  std::vector<Digest> diff_ids;
};

Result<ImageConfig> ParseImageConfig(std::string_view body);

// Serialization, for images and artifacts we push. Deterministic output.
std::string SerializeImageManifest(const ImageManifest& manifest);
std::string SerializeImageIndex(const ImageIndex& index);
std::string SerializeImageConfig(const ImageConfig& config);
// A JSON array of descriptors (e.g. carried in an annotation), and back.
std::string SerializeDescriptors(const std::vector<Descriptor>& descriptors);
Result<std::vector<Descriptor>> ParseDescriptors(std::string_view json);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_MANIFEST_H_
