// SPDX-License-Identifier: Apache-2.0
// File: cli/lazy_image.h
//
// An image started or mounted without pulling it: its manifest and config
// and its runtime image's metadata and index come from the registry; file
// bytes come later through the lazy root file system (fs/mounted_image.h).
// Shared by `syspgo run --mode lazy|prefetch|rtimage` and `syspgo mount`.
#ifndef SYSPGO_CLI_LAZY_IMAGE_H_
#define SYSPGO_CLI_LAZY_IMAGE_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/cli_util.h"
#include "common/status.h"
#include "fs/mounted_image.h"
#include "oci/puller.h"
#include "oci/registry_client.h"
#include "rtimage/trust_policy.h"

namespace syspgo::cli {

// --streams, --fetch-timeout and --trust-policy added to a command's options.
std::vector<OptionSpec> WithLazyOptions(std::vector<OptionSpec> specs);

struct LazyOptions {
  int streams = 2;
  std::chrono::milliseconds fetch_timeout{10000};
};
Result<LazyOptions> ParseLazyOptions(const ParsedArgs& args);

struct LazyImage {
  oci::LocalImage image;  // manifest and config; no layer directories
  std::string config_bytes;  // the config as the registry sent it
  // The runtime image, when the image has one the trust policy accepts.
  std::optional<fs::LazySource> source;
  // Set when the policy uses no runtime image for this reference: why.
  Status not_used;
  // Who signed the runtime image, when the policy asked for a signature.
  std::optional<rtimage::VerifiedSignature> signature;
  oci::TransferCounters counters;  // requests made to find all this
};

// Resolves the reference, finds the runtime image and fetches the config,
// the metadata and (with_index) the index, all checked against their
// digests; the runtime image must be bound to the image (its layers are
// the image's) and be accepted by `policy` (signed by a trusted key where
// it asks). A runtime image that fails any check is an error, never used.
// Without the index, the mount fetches it at its first miss.
Result<std::unique_ptr<LazyImage>> LocateLazyImage(const oci::ImageReference& ref,
                                                   const RegistrySetup& setup,
                                                   const rtimage::TrustPolicy& policy,
                                                   bool with_index);

// Mounts a located image at dir (which must exist); takes lazy.source.
// `setup` outlives the mount.
Result<std::unique_ptr<fs::MountedImage>> MountLazyImage(LazyImage& lazy, fs::LazyMode mode,
                                                         const LazyOptions& options,
                                                         const std::string& store_root,
                                                         const RegistrySetup& setup,
                                                         const std::string& dir);

// The node's shared mount of an image (`syspgo mount --shared`):
// <root>/shared/<manifest hex>/ with `lock` (flock'd by the daemon while it
// serves), `mnt` and `config.json`. Every `syspgo run` of the image uses it
// instead of a mount of its own: nothing to fetch, and the kernel's caches
// of the mount outlive each container.
std::string SharedMountDir(const std::string& root, const oci::Digest& manifest);

// An image whose shared mount is live (its daemon holds the lock): the
// manifest is resolved (one request), the config read from the mount's
// directory, layer_paths = {the mount}. nullopt when there is none.
Result<std::optional<oci::LocalImage>> FindSharedMount(const std::string& root,
                                                       const oci::ImageReference& ref,
                                                       const RegistrySetup& setup,
                                                       oci::TransferCounters* counters);

}  // namespace syspgo::cli

#endif  // SYSPGO_CLI_LAZY_IMAGE_H_
