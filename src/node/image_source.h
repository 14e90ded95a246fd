// SPDX-License-Identifier: Apache-2.0
// File: node/image_source.h
//
// What a node does first with an image it starts without pulling it: its
// manifest and config and its runtime image's metadata and index come from
// the registry, checked against the trust policy; file bytes come later
// through the lazy root file system (fs/mounted_image.h). Shared by every
// front end: `syspgo run`, `syspgo mount` and the containerd snapshotter.
#ifndef SYSPGO_NODE_IMAGE_SOURCE_H_
#define SYSPGO_NODE_IMAGE_SOURCE_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "oci/auth.h"
#include "fs/mounted_image.h"
#include "oci/puller.h"
#include "oci/registry_client.h"
#include "rtimage/trust_policy.h"

namespace syspgo::node {

// How a node reaches registries, as its operator says it (a front end's
// flags or configuration).
struct RegistryFlags {
  std::string authfile;                     // docker config.json; empty: $DOCKER_CONFIG, ~/.docker
  std::vector<std::string> insecure_hosts;  // plain HTTP allowed
  std::vector<std::string> certs_dirs;      // certs.d directories (hosts.toml, CAs)
  std::optional<bool> tls_verify;           // false: TLS without certificate checks
  LogLevel log_level = LogLevel::kWarning;
};

// What every registry-facing part needs, owned in one place (front ends
// fill it from their flags or configuration; `options` points at the
// members, so it does not move).
struct RegistrySetup {
  // Credentials loaded, hosts configured (plus the CAs of $SSL_CERT_FILE
  // and $CURL_CA_BUNDLE), wired to `cancel`.
  static Result<std::unique_ptr<RegistrySetup>> Create(const RegistryFlags& flags,
                                                       const CancelToken* cancel);
  RegistrySetup() = default;
  RegistrySetup(const RegistrySetup&) = delete;
  RegistrySetup& operator=(const RegistrySetup&) = delete;
  oci::CredentialStore credentials;
  oci::TokenCache tokens;
  oci::RegistryHealth health;  // a registry that stalls is not asked again at once
  // Open connections left by one client for the next (the lookups' for a
  // mount's streams; a long-lived process's for its next start).
  oci::IdleConnections connections;
  Logger log;
  oci::RegistryOptions options;
  // Points options at the members above.
  void Wire(const CancelToken* cancel);
};

struct LazyOptions {
  int streams = 2;  // parallel Range requests for the runtime image
  // A registry request of the mount that moves no data for this long
  // fails, and so does a read waiting longer for data on its way.
  std::chrono::milliseconds fetch_timeout{10000};
};

struct LazyImage {
  oci::LocalImage image;     // manifest and config; no layer directories
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
//
// The manifest is the one `ref` names now unless a starter resolved it
// already (`pinned`): then it is fetched by that digest (whatever the tag
// names by now), or not at all when `known` is set (the starter's copy,
// checked against the digest). The trust policy decides on `ref` as given.
struct PinnedManifest {
  std::optional<oci::Digest> digest;
  std::optional<oci::ResolvedManifest> known;  // checked against `digest`
};
// A mount server's pin: the digest its starter resolved (--expect-digest)
// and, when handoff_fd >= 0, the starter's handoff read from it
// (node/mount_server_protocol.h), its manifest checked against the
// digest and its tokens put in setup's cache.
Result<PinnedManifest> ReadServerPin(std::string_view expect_digest, int handoff_fd,
                                     RegistrySetup& setup);
Result<std::unique_ptr<LazyImage>> LocateLazyImage(const oci::ImageReference& ref,
                                                   const RegistrySetup& setup,
                                                   const rtimage::TrustPolicy& policy,
                                                   bool with_index,
                                                   const PinnedManifest& pinned = {});

// Mounts a located image at dir (which must exist); takes lazy.source.
// `setup` outlives the mount.
Result<std::unique_ptr<fs::MountedImage>> MountLazyImage(LazyImage& lazy, fs::LazyMode mode,
                                                         const LazyOptions& options,
                                                         const std::string& store_root,
                                                         const RegistrySetup& setup,
                                                         const std::string& dir);

// The mode `auto` picks for a located image: rtimage when its runtime image
// holds data, lazy when it has one without; nullopt when it has none (or
// the policy uses none): start from the full image.
std::optional<fs::LazyMode> AutoMode(const LazyImage& lazy);

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_IMAGE_SOURCE_H_
