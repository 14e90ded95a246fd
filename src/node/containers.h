// SPDX-License-Identifier: Apache-2.0
// File: node/containers.h
//
// The containers of an image running on this node, found from what the
// node mounted for them: a container's root file system (the "/" mount in
// its mount namespace) is an overlay whose lower layers are the image's
// shared mount (<store>/shared/<manifest hex>/mnt: `syspgo run` in
// rtimage/auto mode and the containerd snapshotter's remote snapshots) or
// the image's unpacked layers (<store>/layers/sha256/<diff-id hex>/fs:
// `syspgo run --mode full`), or the image's own FUSE mount. Containers
// whose layers another snapshotter unpacked (containerd's overlayfs) are
// not found this way.
#ifndef SYSPGO_NODE_CONTAINERS_H_
#define SYSPGO_NODE_CONTAINERS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "node/image_source.h"
#include "oci/manifest.h"
#include "oci/reference.h"

namespace syspgo::node {

struct ImageIdentity {
  oci::Digest manifest;
  std::vector<oci::Digest> diff_ids;  // the config's, bottom first
};

// Whether a root mount's options name the image (see above).
bool RootIsOfImage(const std::string& super_options, const std::string& source,
                   const ImageIdentity& image);

// Every process (not this one) whose root file system is the image's.
std::vector<pid_t> ProcessesOfImage(const ImageIdentity& image);

// The identity of the image `ref` names now, from its registry (manifest
// and config, each checked against its digest).
Result<ImageIdentity> ResolveImageIdentity(const oci::ImageReference& ref,
                                           const RegistrySetup& setup);

// Follows the processes of an image's containers on this node: those there
// are at the first poll and those of containers started later (the node is
// scanned at most once per `every`). Each process (pid and start time: a
// reused pid is a new process) is handed to `track` once; one that `track`
// refuses (it exited meanwhile) is offered again at the next scan if it is
// still there.
class ImageProcessFollower {
 public:
  using Finder = std::function<std::vector<pid_t>()>;
  using Tracker = std::function<Status(pid_t)>;
  ImageProcessFollower(const ImageIdentity& image, Tracker track,
                       std::chrono::milliseconds every = std::chrono::seconds(1));
  // `find` instead of ProcessesOfImage (tests).
  ImageProcessFollower(Finder find, Tracker track, std::chrono::milliseconds every);

  // Scans now: how many processes were newly tracked.
  size_t Poll();
  // Scans when `every` has passed since the last scan; 0 otherwise.
  size_t PollIfDue();
  // Processes tracked so far.
  size_t tracked() const { return tracked_.size(); }

 private:
  Finder find_;
  Tracker track_;
  std::chrono::milliseconds every_;
  std::chrono::steady_clock::time_point next_{};
  std::set<std::pair<pid_t, uint64_t>> tracked_;  // (pid, start time)
};

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_CONTAINERS_H_
