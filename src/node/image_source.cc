// SPDX-License-Identifier: Apache-2.0
#include "node/image_source.h"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <thread>

#include "common/file_util.h"
#include "common/unique_fd.h"
#include "node/mount_server_protocol.h"
#include "oci/registry_hosts.h"
#include "rtimage/artifact.h"
#include "rtimage/layer_index.h"

namespace syspgo::node {

Result<std::unique_ptr<RegistrySetup>> RegistrySetup::Create(const RegistryFlags& flags,
                                                             const CancelToken* cancel) {
  auto setup = std::make_unique<RegistrySetup>();
  setup->log = Logger(flags.log_level);
  ASSIGN_OR_RETURN(setup->credentials, oci::CredentialStore::Load(flags.authfile));
  setup->options.hosts.insecure_hosts = flags.insecure_hosts;
  setup->options.hosts.certs_dirs = flags.certs_dirs;
  setup->options.hosts.extra_ca_files = oci::CaFilesFromEnvironment();
  if (flags.tls_verify) setup->options.hosts.tls_verify = *flags.tls_verify;
  setup->Wire(cancel);
  return setup;
}

void RegistrySetup::Wire(const CancelToken* cancel) {
  options.credentials = &credentials;
  options.tokens = &tokens;
  options.health = &health;
  options.connections = &connections;
  options.cancel = cancel;
  options.log = &log;
}

namespace {

// Clients for a mount's fetches, which a start waits for: few attempts,
// stalls bounded by the fetch timeout. They serve the container for as long
// as it runs, so the start's deadline is not theirs.
fs::ClientPool::Factory MountClients(const std::string& registry, const RegistrySetup& setup,
                                     const LazyOptions& options) {
  const oci::RegistryOptions base = setup.options;
  const auto stall = std::chrono::seconds(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options.fetch_timeout).count()));
  return [registry, base, stall](const CancelToken* cancel, oci::TransferCounters* counters) {
    oci::RegistryOptions ro = base;
    ro.cancel = cancel;
    ro.max_attempts = 3;
    ro.http.stall_timeout = stall;
    ro.http.connect_timeout = std::min(ro.http.connect_timeout, stall);
    ro.http.deadline.reset();
    return oci::RegistryClient::Create(registry, ro, counters);
  };
}

}  // namespace

Result<PinnedManifest> ReadServerPin(std::string_view expect_digest, int handoff_fd,
                                     RegistrySetup& setup) {
  PinnedManifest pinned;
  ASSIGN_OR_RETURN(pinned.digest, oci::Digest::Parse(expect_digest));
  if (handoff_fd < 0) return pinned;
  ASSIGN_OR_RETURN(std::string bytes,
                   ReadToEnd(handoff_fd, kMaxManifestHandoff, "the handed-over manifest"));
  ASSIGN_OR_RETURN(StartHandoff handoff, ReadManifestHandoff(bytes, *pinned.digest));
  pinned.known = std::move(handoff.manifest);
  for (auto& [key, token] : handoff.tokens) setup.tokens.Put(key, std::move(token));
  return pinned;
}

Result<std::unique_ptr<LazyImage>> LocateLazyImage(const oci::ImageReference& ref,
                                                   const RegistrySetup& setup,
                                                   const rtimage::TrustPolicy& policy,
                                                   bool with_index, const PinnedManifest& pinned) {
  auto lazy = std::make_unique<LazyImage>();
  const rtimage::TrustDecision decision = policy.Decide(ref);
  ASSIGN_OR_RETURN(oci::RegistryClient client,
                   oci::RegistryClient::Create(ref.registry, setup.options, &lazy->counters));
  oci::LocalImage& image = lazy->image;
  image.reference = ref;
  oci::ResolvedManifest fetched_manifest;
  const oci::ResolvedManifest* resolved = pinned.known ? &*pinned.known : &fetched_manifest;
  if (!pinned.known) {
    ASSIGN_OR_RETURN(fetched_manifest,
                     pinned.digest ? oci::FetchImageManifest(client, ref.repository, *pinned.digest)
                                   : oci::ResolveImageManifest(client, ref));
  }
  image.manifest_digest = resolved->descriptor.digest;
  image.manifest_size = resolved->descriptor.size;
  image.manifest = resolved->manifest;
  // The config comes on a second connection while the runtime image is
  // looked up (the referrers API and the tag schema index at once, on a
  // first and third) and its metadata fetched (its signature checked on
  // the third meanwhile, where the policy asks for one).
  Result<std::string> config = Unavailable("not fetched");
  std::thread config_fetch([&] {
    auto second = oci::RegistryClient::Create(ref.registry, setup.options, &lazy->counters);
    if (!second.ok()) {
      config = second.status();
    } else {
      config = second->FetchSmallBlob(ref.repository, image.manifest.config);
    }
  });
  Result<std::optional<rtimage::FoundRuntimeImage>> found =
      std::optional<rtimage::FoundRuntimeImage>();
  Result<rtimage::TrustedMetadata> fetched = NotFound("no runtime image");
  if (decision.accept == rtimage::Acceptance::kNone) {
    lazy->not_used = rtimage::NotUsed(decision).WithContext(ref.ToString());
  } else {
    auto third = oci::RegistryClient::Create(ref.registry, setup.options, &lazy->counters);
    oci::RegistryClient* other = third.ok() ? &*third : nullptr;
    found = rtimage::FindRuntimeImage(client, ref.repository, image.manifest_digest, other);
    if (found.ok() && *found) {
      fetched = rtimage::FetchTrustedMetadata(client, other, ref.repository, **found,
                                              image.manifest_digest, decision, with_index);
    }
  }
  config_fetch.join();
  RETURN_IF_ERROR(config.status());
  ASSIGN_OR_RETURN(image.config, oci::ParseImageConfig(*config));
  lazy->config_bytes = std::move(*config);
  RETURN_IF_ERROR(found.status());
  if (!*found) return lazy;
  RETURN_IF_ERROR(fetched.status());
  RETURN_IF_ERROR(rtimage::CheckBinding(fetched->fetched.metadata, image.manifest, image.config));
  lazy->signature = fetched->signature;
  fs::LazySource source;
  if (with_index) {
    ASSIGN_OR_RETURN(source.indexes, rtimage::DecodeLayerIndexes(fetched->fetched.index_bytes));
  }
  source.index_blob = (*found)->index;
  source.metadata = std::move(fetched->fetched.metadata);
  source.repository = ref.repository;
  source.blob = (*found)->blob;
  lazy->source = std::move(source);
  return lazy;
}

Result<std::unique_ptr<fs::MountedImage>> MountLazyImage(LazyImage& lazy, fs::LazyMode mode,
                                                         const LazyOptions& options,
                                                         const std::string& store_root,
                                                         const RegistrySetup& setup,
                                                         const std::string& dir) {
  if (!lazy.source) {
    if (!lazy.not_used.ok()) return lazy.not_used;
    return NotFound(lazy.image.reference.ToString() +
                    " has no runtime image (`syspgo image optimize IMAGE` makes one)");
  }
  fs::MountOptions o;
  o.mode = mode;
  o.streams = options.streams;
  o.fetch_timeout = options.fetch_timeout;
  o.cache_root = store_root;
  o.log = &setup.log;
  o.clients = MountClients(lazy.image.reference.registry, setup, options);
  return fs::MountedImage::Mount(std::move(*lazy.source), std::move(o), dir);
}

std::optional<fs::LazyMode> AutoMode(const LazyImage& lazy) {
  if (!lazy.source) return std::nullopt;
  return lazy.source->blob.size > 0 ? fs::LazyMode::kRuntimeImage : fs::LazyMode::kLazy;
}

}  // namespace syspgo::node
