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

#include <string>
#include <vector>

#include "common/status.h"
#include "oci/manifest.h"

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

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_CONTAINERS_H_
