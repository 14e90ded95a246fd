// SPDX-License-Identifier: Apache-2.0
// File: oci/image_builder.h
//
// Builds an OCI image from directories (or ready tar streams) and pushes it
// to a registry: each layer is written as tar, compressed, hashed twice
// (diff_id and blob digest) into a temp file, uploaded, then the config and
// the manifest. Used by `syspgo build-image`, the tests and the benchmarks.
#ifndef SYSPGO_OCI_IMAGE_BUILDER_H_
#define SYSPGO_OCI_IMAGE_BUILDER_H_

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "oci/manifest.h"
#include "oci/reference.h"
#include "oci/registry_client.h"
#include "oci/tar.h"

namespace syspgo::oci {

struct LayerInput {
  // Exactly one of these: a directory tree to archive, or an uncompressed
  // tar stream to use as is (tests use it for hostile layers).
  std::string directory;
  std::string raw_tar;
};

// The PATH docker and buildkit give an image that sets none.
inline constexpr char kDefaultImagePath[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct BuildOptions {
  std::vector<LayerInput> layers;  // bottom first
  Compression compression = Compression::kGzip;
  int compression_level = 0;        // 0: the compressor's fast default
  bool docker_media_types = false;  // Docker v2 schema 2 instead of OCI
  // diff_ids are filled in. As docker and buildkit do: without a PATH in
  // env, the default PATH is set (kDefaultImagePath), so `ctr run IMAGE
  // prog` finds prog; without `created`, $SOURCE_DATE_EPOCH or now.
  ImageConfig config;
  std::string work_dir = "/tmp";  // where layer files are staged
  // Told of each step as it starts and ends ("layer 2/3 ...: pushing
  // 315.2 MB"), for a command to show; may be empty.
  std::function<void(const std::string&)> on_step;
};

struct BuiltImage {
  Digest manifest_digest;
  std::string manifest;
  std::vector<Descriptor> layers;
  std::vector<Digest> diff_ids;  // per layer: sha256 of its uncompressed tar
};

Result<BuiltImage> BuildAndPushImage(const ImageReference& ref, const BuildOptions& options,
                                     const RegistryOptions& registry);

// Writes the tree under `dir` as tar entries (sorted, hard links detected,
// owners, modes, mtimes, xattrs kept; sockets skipped).
Status WriteDirectoryAsTar(const std::string& dir, TarWriter& writer);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_IMAGE_BUILDER_H_
