// SPDX-License-Identifier: Apache-2.0
// File: node/shared_mount.h
//
// One lazy root file system per image per node, shared by every container
// of the image on the node, whoever starts it (`syspgo run`, the containerd
// snapshotter, `syspgo mount --shared`). docs/node.md has the design.
//
// A shared mount is served by a process of its own (a mount server: `syspgo
// mount --shared`), not by the front end that asked for it, so that it
// outlives the front end: `syspgo run` returns while another container of
// the image still runs, and the snapshotter can be restarted (or killed)
// while its containers keep reading. Its directory is
//   <root>/shared/<manifest hex>/
//     lock         flock'd by the server while it serves
//     mnt/         the mount
//     config.json  the image's config (checked against its digest)
//     source.json  what the server verified: reference, mode, signer
//     control.sock the server's statistics (one JSON per connection)
//     refs/        one file per user of the mount
// and <root>/shared-locks/<manifest hex> serialises finding, starting and
// ending a server (never removed while syspgo runs: a lock file that
// disappears could be held by two processes on two inodes).
//
// References: a process's reference is named after its pid and start time
// (the server drops it when the process is gone, so a killed `syspgo run`
// leaks nothing); a named reference (the snapshotter's, one per remote
// snapshot) stays until its owner releases it. A server started with
// exit_unreferenced unmounts and exits when the last reference goes.
#ifndef SYSPGO_NODE_SHARED_MOUNT_H_
#define SYSPGO_NODE_SHARED_MOUNT_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/cancel.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "fs/mounted_image.h"
#include "node/image_source.h"
#include "oci/manifest.h"
#include "rtimage/trust_policy.h"

namespace syspgo::node {

std::string SharedMountDir(const std::string& root, const oci::Digest& manifest);

// What a shared mount's server counts (typed; the server sends it as JSON).
struct MountStats {
  std::string mode;               // rtimage, lazy or prefetch
  int64_t registry_requests = 0;  // locate + runtime image + fallback
  int64_t registry_bytes = 0;
  int64_t locate_requests = 0;  // manifest, config, runtime image lookup, metadata
  int64_t locate_bytes = 0;
  int64_t fallback_requests = 0;  // layer ranges for what the runtime image lacks
  int64_t fallback_bytes = 0;
  int64_t misses = 0;  // reads the runtime image could not answer
  int64_t errors = 0;  // reads that failed (EIO)
  int64_t references = 0;
  bool settled = false;
  bool exit_unreferenced = false;  // the server ends with its last reference
  nlohmann::json fs;               // the mount's own statistics, as fs::MountedImage::Stats
  static Result<MountStats> FromJson(const nlohmann::json& j);
  nlohmann::json ToJson() const;
};

// ---- The server side: the process that serves a shared mount.

class SharedMountServer {
 public:
  // Creates the directory (fails with kFailedPrecondition when another
  // server holds it), mounts the located image at mnt/ in `mode` and
  // starts answering statistics. `setup` outlives the server.
  static Result<std::unique_ptr<SharedMountServer>> Start(const std::string& root, LazyImage& lazy,
                                                          fs::LazyMode mode,
                                                          const LazyOptions& options,
                                                          const RegistrySetup& setup,
                                                          bool exit_unreferenced);
  ~SharedMountServer();
  SharedMountServer(const SharedMountServer&) = delete;
  SharedMountServer& operator=(const SharedMountServer&) = delete;

  const std::string& mnt() const { return dir_.mnt(); }
  // Serves until `cancel`, until the mount is taken away, or (with
  // exit_unreferenced) until no reference is left; calls on_settled once
  // when the mount has settled. Then unmounts and removes the directory.
  Status Serve(const CancelToken& cancel, const std::function<void()>& on_settled);
  // Now, or as they were when Serve ended.
  MountStats Stats() const;

 private:
  SharedMountServer() = default;
  void ControlLoop();
  void StopControl();
  // True when no live reference is left (dead processes' are removed).
  bool Unreferenced();

  std::string root_;
  std::string dir_path_;
  std::string key_;
  bool exit_unreferenced_ = false;
  fs::LazyMode mode_ = fs::LazyMode::kRuntimeImage;
  const oci::TransferCounters* locate_counters_ = nullptr;
  std::unique_ptr<LazyImage> lazy_holder_;
  fs::MountDir dir_;
  std::unique_ptr<fs::MountedImage> mounted_;
  MountStats final_stats_;
  UniqueFd control_;
  Pipe wake_;  // a byte written ends ControlLoop's wait
  std::atomic<bool> stop_control_{false};
  std::atomic<bool> check_now_{false};  // a user dropped its reference
  std::thread control_thread_;
};

// ---- The user side.

// A reference to a live shared mount; dropped on destruction (a named
// reference too, unless Keep() was called).
class MountRef {
 public:
  MountRef() = default;
  MountRef(MountRef&& other) noexcept { *this = std::move(other); }
  MountRef& operator=(MountRef&& other) noexcept;
  ~MountRef();

  const std::string& mnt() const { return mnt_; }
  // The image: manifest and config; layer_paths = {mnt()}.
  const oci::LocalImage& image() const { return image_; }
  // The key id of the runtime image's signer, when it was signed.
  const std::string& signed_by() const { return signed_by_; }
  // True when this acquire started the server.
  bool started() const { return started_; }
  // The mount's mode (rtimage or lazy).
  fs::LazyMode mode() const { return mode_; }
  Result<MountStats> Stats() const;
  // The reference outlives this object (a named reference its owner
  // releases later with ReleaseSharedMount).
  void Keep() { ref_path_.clear(); }
  void Release();

 private:
  friend class SharedMounts;
  std::string mnt_;
  std::string control_;
  std::string ref_path_;
  std::string signed_by_;
  oci::LocalImage image_;
  fs::LazyMode mode_ = fs::LazyMode::kRuntimeImage;
  bool started_ = false;
};

struct AcquireOptions {
  // The server: `BINARY mount --shared --exit-unreferenced --expect-digest
  // D [--mode M] SERVER_ARGS... [--manifest-stdin] REFERENCE`; server_args are the options it
  // needs (--root, registries, credentials, trust policy, --fetch-timeout,
  // --streams, -v).
  std::string binary;
  std::vector<std::string> server_args;
  // Empty: a reference of this process (dropped when it exits). Else the
  // name of a reference its owner keeps (letters, digits, '-', '_', '.').
  std::string holder;
  // nullopt: the server decides (rtimage when the runtime image has data,
  // else lazy). Only rtimage and lazy mounts are shared.
  std::optional<fs::LazyMode> mode;
  // How long starting a server may take (locate + mount).
  std::chrono::milliseconds timeout{60000};
  // Log of the servers this starts (appended, 0600).
  std::string server_log;
};

class SharedMounts {
 public:
  SharedMounts(std::string root, const RegistrySetup* setup)
      : root_(std::move(root)), setup_(setup) {}
  // The store root the mounts are below.
  const std::string& root() const { return root_; }

  // The node's shared mount of `ref` (resolved to its manifest digest, one
  // registry request), started when there is none; the reference's trust
  // decision must accept what the live server verified. Concurrent
  // acquires of one image start one server.
  Result<MountRef> Acquire(const oci::ImageReference& ref, const rtimage::TrustDecision& decision,
                           const AcquireOptions& options, oci::TransferCounters* counters) const;
  // The same for a manifest already fetched and checked (by digest or
  // tag), which a server this starts is handed instead of fetching it.
  Result<MountRef> AcquireResolved(const oci::ImageReference& ref,
                                   const oci::ResolvedManifest& resolved,
                                   const rtimage::TrustDecision& decision,
                                   const AcquireOptions& options) const;
  // Drops a named reference; the server ends when it was the last one.
  Status Release(const oci::Digest& manifest, const std::string& holder) const;
  // Whether a server serves the image now.
  bool Live(const oci::Digest& manifest) const;
  // Whether the mount holds the named reference.
  bool HasReference(const oci::Digest& manifest, const std::string& holder) const;
  // The named references of every shared mount: (manifest hex, holder).
  std::vector<std::pair<std::string, std::string>> References() const;
  // Statistics of a live shared mount.
  Result<MountStats> Stats(const oci::Digest& manifest) const;
  // Shared directories whose server died: the mount detached, the
  // directory removed.
  void CleanupStale(const Logger* log) const;

 private:
  std::string root_;
  const RegistrySetup* setup_;
};

// The process reference name of this process: "pid-<pid>-<start time>".
std::string ProcessHolderName();

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_SHARED_MOUNT_H_
