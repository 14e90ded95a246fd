// SPDX-License-Identifier: Apache-2.0
// File: snapshotter/snapshotter.h
//
// containerd's snapshotter contract, for syspgo (docs/containerd.md):
// overlayfs snapshots in <root>/snapshotter/snapshots/<id>/{fs,work}, and
// remote snapshots for the layers of images that have a runtime image the
// trust policy accepts. When containerd prepares such a layer (labels
// containerd.io/snapshot.ref and containerd.io/snapshot/cri.*), the layer is
// committed at once as a remote snapshot and the answer is AlreadyExists:
// containerd then neither fetches nor unpacks it. The image's last layer
// holds a reference on the node's shared mount of the image
// (node/shared_mount.h); a container's snapshot is overlayfs with that
// mount as its lower directory.
//
// Front-end independent: snapshotter/service.h puts it behind gRPC.
// Threading: every method may be called from any thread; `mu_` guards the
// metadata store and the directories; registry work (finding runtime
// images, starting mounts) runs outside it.
#ifndef SYSPGO_SNAPSHOTTER_SNAPSHOTTER_H_
#define SYSPGO_SNAPSHOTTER_SNAPSHOTTER_H_

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "node/image_source.h"
#include "node/shared_mount.h"
#include "rtimage/trust_policy.h"
#include "snapshotter/metadata.h"

namespace syspgo::snapshotter {

// containerd's label names.
inline constexpr char kLabelSnapshotRef[] = "containerd.io/snapshot.ref";
inline constexpr char kLabelRemote[] = "containerd.io/snapshot/remote";
inline constexpr char kLabelImageRef[] = "containerd.io/snapshot/cri.image-ref";
inline constexpr char kLabelManifestDigest[] = "containerd.io/snapshot/cri.manifest-digest";
inline constexpr char kLabelLayerDigest[] = "containerd.io/snapshot/cri.layer-digest";
inline constexpr char kLabelImageLayers[] = "containerd.io/snapshot/cri.image-layers";

struct Mount {
  std::string type;
  std::string source;
  std::vector<std::string> options;
};

struct Info {
  std::string name;
  std::string parent;
  Kind kind = Kind::kActive;
  std::map<std::string, std::string> labels;
  int64_t created_ns = 0;
  int64_t updated_ns = 0;
};

struct Usage {
  int64_t size = 0;
  int64_t inodes = 0;
};

struct SnapshotterOptions {
  std::string root;  // the store root (--root); the snapshotter's state is root/snapshotter
  // How the shared mounts' servers are started (node::AcquireOptions).
  std::string binary;
  std::vector<std::string> server_args;
  std::string server_log;
  // Force this mode for remote images (nullopt: rtimage when the runtime
  // image has data, else lazy).
  std::optional<fs::LazyMode> mode;
  // Images without an acceptable runtime image: false = containerd
  // fetches and unpacks them here (overlayfs).
  std::chrono::milliseconds start_timeout{60000};
};

// What the snapshotter counted (Prometheus text, docs/containerd.md).
struct Counters {
  std::atomic<int64_t> remote_layers{0};    // layers committed as remote snapshots
  std::atomic<int64_t> remote_images{0};    // images whose top layer was
  std::atomic<int64_t> unpacked_layers{0};  // layers containerd unpacked here
  // Remote layers unpacked here because another image's layers lie on them.
  std::atomic<int64_t> materialized_layers{0};
  std::atomic<int64_t> container_starts{0};      // active snapshots over a remote image
  std::atomic<int64_t> mounts_started{0};        // shared mounts this snapshotter started
  std::atomic<int64_t> errors{0};                // requests that failed
  std::atomic<int64_t> registry_errors{0};       // remote decisions that failed on the registry
  std::atomic<int64_t> policy_reloads{0};        // trust policies loaded after the start
  std::atomic<int64_t> policy_reload_errors{0};  // changed policies that did not load
};

class Snapshotter {
 public:
  static Result<std::unique_ptr<Snapshotter>> Open(SnapshotterOptions options,
                                                   const node::RegistrySetup* setup,
                                                   rtimage::TrustPolicy policy);

  Result<std::vector<Mount>> Prepare(const std::string& ns, const std::string& key,
                                     const std::string& parent,
                                     const std::map<std::string, std::string>& labels);
  Result<std::vector<Mount>> View(const std::string& ns, const std::string& key,
                                  const std::string& parent,
                                  const std::map<std::string, std::string>& labels);
  Result<std::vector<Mount>> Mounts(const std::string& key);
  Status Commit(const std::string& name, const std::string& key,
                const std::map<std::string, std::string>& labels);
  Status Remove(const std::string& key);
  Result<Info> Stat(const std::string& key);
  // `paths`: "labels" or "labels.<key>" (empty: replace the labels).
  Result<Info> Update(const Info& info, const std::vector<std::string>& paths);
  Result<std::vector<Info>> List();
  Result<Usage> DiskUsage(const std::string& key);
  // Removes directories no snapshot owns, and shared mount references no
  // remote snapshot owns.
  Status Cleanup();

  const Counters& counters() const { return counters_; }
  Counters& counters() { return counters_; }
  // Replaces the trust policy for the decisions from now on (a reload).
  void SetPolicy(rtimage::TrustPolicy policy);
  // Statistics of the shared mounts this snapshotter holds, by image.
  std::vector<std::pair<std::string, node::MountStats>> MountStatistics();
  // Prometheus text format. `up` false: the last text of a snapshotter
  // that stops (syspgo_snapshotter_up 0, totals kept, no per-mount series:
  // they would show mounts as live that this process no longer serves).
  std::string Metrics(bool up = true);

 private:
  Snapshotter(SnapshotterOptions options, const node::RegistrySetup* setup,
              rtimage::TrustPolicy policy)
      : options_(std::move(options)),
        setup_(setup),
        policy_(std::move(policy)),
        mounts_(options_.root, setup) {}

  // Whether the image of a layer (from its labels) is served from its
  // runtime image, and its layers; cached per manifest digest.
  struct ImageDecision {
    Status usable;                    // ok: remote; else why not
    std::vector<std::string> layers;  // the manifest's layer digests
    oci::ResolvedManifest manifest;   // fetched by containerd's digest
    std::chrono::steady_clock::time_point at;
    // A refusal holds for the rest of the pull that asked: containerd
    // prepares an image's layers bottom up, so a layer with as many or
    // more layers above it than the last one asked about starts another
    // pull, which asks the registry again (the runtime image may have
    // arrived since). The fewest layers from one up seen so far.
    mutable std::atomic<size_t> fewest_layers_up{SIZE_MAX};
    // Usable: the node's shared mount, started at the image's first layer
    // (this process's reference until the last layer takes its own).
    std::shared_ptr<node::MountRef> pending;
  };
  // `layers_up`: how many layers the pull has left, this one included
  // (containerd's cri.image-layers label; 0 when unknown).
  Result<std::shared_ptr<const ImageDecision>> Decide(const std::string& image_ref,
                                                      const std::string& manifest,
                                                      size_t layers_up);
  Result<std::vector<Mount>> CreateSnapshot(const std::string& ns, const std::string& key,
                                            const std::string& parent, Kind kind,
                                            const std::map<std::string, std::string>& labels);
  // Tries the remote path; nullopt when the layer is not served remotely.
  Result<std::optional<Status>> TryRemote(const std::string& ns, const std::string& key,
                                          const std::string& parent,
                                          const std::map<std::string, std::string>& labels);
  Result<std::vector<Mount>> MountsLocked(const SnapshotRecord& r);
  // What a chain of snapshots (from a key down to its bottom layer) needs
  // before it can be mounted: the shared mount of the first remote top
  // layer in it (the chain ends there), and the remote layers above that
  // have no directory yet (top first).
  struct ChainNeeds {
    std::optional<SnapshotRecord> top;
    std::vector<SnapshotRecord> unpack;
    bool materialized = false;  // it holds remote layers unpacked before
  };
  Result<ChainNeeds> ChainNeedsLocked(const std::string& from);
  // Starts the mount, unpacks the layers. Outside mu_.
  Status Provide(const ChainNeeds& needs);
  // A layer served from a runtime image has no directory until another
  // image's layers need it below them (a shared base layer). Then its
  // blob is fetched once, checked against the manifest containerd pulled
  // and the config's diff_id, and unpacked into snapshots/<id>/fs.
  struct LayerSource;
  using LayerSources = std::map<std::string, std::unique_ptr<LayerSource>>;  // by manifest
  Result<LayerSource*> SourceOf(const SnapshotRecord& r, LayerSources* sources);
  Status Materialize(const SnapshotRecord& r, LayerSources* sources);
  bool Materialized(int64_t id) const;
  // The shared mount of a remote top layer, started again if its server
  // is gone (after a reboot or a crash). Outside mu_.
  Status EnsureMounted(const SnapshotRecord& top);
  std::string SnapshotDir(int64_t id) const;
  static std::string Holder(int64_t id) { return "snap-" + std::to_string(id); }
  node::AcquireOptions AcquireFor(int64_t id) const;

  SnapshotterOptions options_;
  const node::RegistrySetup* setup_;
  rtimage::TrustPolicy Policy();  // a copy, under policy_mu_
  std::mutex policy_mu_;          // guards policy_ (SetPolicy replaces it)
  rtimage::TrustPolicy policy_;
  node::SharedMounts mounts_;
  std::string state_;  // root/snapshotter
  Counters counters_;
  std::mutex mu_;  // guards store_ and the snapshot directories
  std::unique_ptr<MetadataStore> store_;
  std::mutex decisions_mu_;  // guards decisions_ (expired ones are dropped on lookup)
  std::map<std::string, std::shared_ptr<const ImageDecision>> decisions_;
  std::mutex ensure_mu_;       // serialises restarting shared mounts
  std::mutex materialize_mu_;  // serialises unpacking remote layers (Materialize)
};

}  // namespace syspgo::snapshotter

#endif  // SYSPGO_SNAPSHOTTER_SNAPSHOTTER_H_
