// SPDX-License-Identifier: Apache-2.0
// File: node/deploy.h
//
// Putting an image's root file system on this node for a container to
// start on (docs/node.md, "Deploy"): plan, then act. The plan follows from
// the request and the trust policy alone:
//   - the node's shared mount of the image's runtime image (auto, or
//     --mode rtimage): started when there is none, shared with every
//     other start of the image (node/shared_mount.h);
//   - a lazy mount of this start's own (--mode lazy or prefetch: the
//     baselines the shared mount is measured against);
//   - the full image, pulled into the layer store (--mode full, or auto
//     when the image has no runtime image the policy accepts).
// Auto falls back to the full image when the shared mount cannot be had,
// and says why (a refused runtime image as a warning); a forced mode
// fails instead.
#ifndef SYSPGO_NODE_DEPLOY_H_
#define SYSPGO_NODE_DEPLOY_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/cancel.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "fs/mounted_image.h"
#include "node/image_source.h"
#include "node/shared_mount.h"
#include "oci/puller.h"
#include "rtimage/trust_policy.h"

namespace syspgo::node {

// When a start pulls the image (the full image only).
enum class PullPolicy { kAlways, kMissing, kNever };
Result<PullPolicy> ParsePullPolicy(std::string_view name);

// The image in the store per `policy`: always pulls (falling back to the
// local copy, with a warning, when the registry is unreachable), missing
// pulls what the store lacks, never only loads.
Result<oci::LocalImage> ObtainImage(oci::Puller& puller, const oci::ImageReference& ref,
                                    PullPolicy policy, int jobs, const Logger& log);

struct DeployRequest {
  oci::ImageReference ref;
  // Neither: auto. full: the full image only. lazy: that mode, or fail.
  bool full = false;
  std::optional<fs::LazyMode> lazy;
  PullPolicy pull = PullPolicy::kAlways;
  int jobs = 4;              // parallel layer downloads of a full pull
  LazyOptions lazy_options;  // a mount of the start's own
  // The start as a whole: starting a shared mount waits until then.
  std::chrono::steady_clock::time_point deadline;
  // How to start a mount server (binary, its options, its log); the mode
  // and timeout are Deploy's.
  AcquireOptions server;
};

// What a deploy does, decided before it acts.
struct DeployPlan {
  enum Kind { kSharedMount, kOwnMount, kFull } kind = kFull;
  // auto does not try the shared mount: why (the policy uses no runtime
  // image for the reference).
  Status not_shared;
};
DeployPlan PlanDeploy(const DeployRequest& request, const rtimage::TrustDecision& decision);

// The registry traffic of a deploy and its mount's statistics, read after
// the container ran.
struct DeployStats {
  int64_t registry_requests = 0;  // everything this start made the registry do
  int64_t registry_bytes = 0;
  // A mount of its own: what locating the image cost (manifest, config,
  // runtime image metadata and index).
  std::optional<int64_t> metadata_requests;
  std::optional<int64_t> metadata_bytes;
  nlohmann::json fs;                 // the mount's own statistics; null for the full image
  std::optional<MountStats> shared;  // the shared mount's, when it answered
};

// A deployed image. Destroy the container on it first; destroying this
// unmounts a mount of its own and drops the shared mount's reference.
class Deployment {
 public:
  ~Deployment();
  Deployment(const Deployment&) = delete;
  Deployment& operator=(const Deployment&) = delete;

  // The image: manifest and config; layer_paths are its root's lower
  // directories (the unpacked layers, or the mount).
  const oci::LocalImage& image() const { return image_; }
  // nullopt for the full image.
  std::optional<fs::LazyMode> mode() const { return mode_; }
  std::string ModeLabel() const;
  // The shared mount, when the start is on one (its mnt() is empty else).
  const MountRef& shared_mount() const { return shared_; }
  // The key id that signed the runtime image, when one was required.
  std::string signed_by() const;
  double locate_seconds() const { return locate_s_; }
  double mount_seconds() const { return mount_s_; }

  // The container's root is mounted: what it took from the store is in
  // use in the open, and the gc may run again.
  void Prepared() { gc_hold_.Reset(); }
  // Stops background fetches of a mount of its own (before Stats, so that
  // its counters stay put).
  void StopFetching();
  DeployStats Stats(const Logger& log) const;
  // Unmounts a mount of its own; the shared mount stays for its other users.
  Status Stop();

 private:
  friend Result<std::unique_ptr<Deployment>> Deploy(const DeployRequest&, const RegistrySetup&,
                                                    const rtimage::TrustPolicy&, SharedMounts&,
                                                    const CancelToken*);
  Deployment() = default;
  oci::LocalImage image_;
  std::optional<fs::LazyMode> mode_;
  oci::TransferCounters shared_counters_;  // the resolve that found the shared mount
  MountRef shared_;                        // released after the container is gone
  std::unique_ptr<LazyImage> lazy_;        // a mount of its own: what was located
  // Destroyed in reverse: the mount, then its directory.
  fs::MountDir mount_dir_;
  std::unique_ptr<fs::MountedImage> mounted_;
  UniqueFd gc_hold_;
  double locate_s_ = 0, mount_s_ = 0;
};

// Plans and acts (see above). `mounts` is the node's (its root is the
// store root); `setup` outlives the deployment.
Result<std::unique_ptr<Deployment>> Deploy(const DeployRequest& request, const RegistrySetup& setup,
                                           const rtimage::TrustPolicy& policy, SharedMounts& mounts,
                                           const CancelToken* cancel);

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_DEPLOY_H_
