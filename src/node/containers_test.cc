// SPDX-License-Identifier: Apache-2.0
// Which root mounts are an image's (node/containers.h).
#include "node/containers.h"

#include <gtest/gtest.h>

namespace syspgo::node {
namespace {

oci::Digest D(char c) { return oci::Digest::Of(std::string(1, c)); }

TEST(ContainersTest, RootMountsOfAnImage) {
  ImageIdentity image{D('m'), {D('a'), D('b')}};
  const std::string shared = "/var/lib/syspgo/shared/" + image.manifest.hex + "/mnt";
  // syspgo run (rtimage, auto) and the snapshotter's remote snapshots.
  EXPECT_TRUE(RootIsOfImage("rw,lowerdir=" + shared + ",upperdir=/x/upper,workdir=/x/work",
                            "overlay", image));
  EXPECT_TRUE(RootIsOfImage("rw,lowerdir=/snap/fs:" + shared, "overlay", image));
  // syspgo run --mode full: every layer of the image, unpacked.
  const std::string la = "/var/lib/syspgo/layers/sha256/" + image.diff_ids[0].hex + "/fs";
  const std::string lb = "/var/lib/syspgo/layers/sha256/" + image.diff_ids[1].hex + "/fs";
  EXPECT_TRUE(RootIsOfImage("rw,lowerdir=" + lb + ":" + la + ",upperdir=/u", "overlay", image));
  // Another image sharing a layer, another manifest, a prefix of a digest.
  EXPECT_FALSE(RootIsOfImage("rw,lowerdir=" + la + ",upperdir=/u", "overlay", image));
  EXPECT_FALSE(
      RootIsOfImage("rw,lowerdir=/var/lib/syspgo/shared/" + D('n').hex + "/mnt", "overlay", image));
  EXPECT_FALSE(RootIsOfImage("rw,lowerdir=/var/lib/syspgo/shared/" + image.manifest.hex + "0/mnt",
                             "overlay", image));
  EXPECT_FALSE(RootIsOfImage("rw,errors=remount-ro", "/dev/vda1", image)) << "the host's root";
}

TEST(ContainersTest, NotThisProcess) {
  ImageIdentity image{D('m'), {}};
  EXPECT_TRUE(ProcessesOfImage(image).empty());
}

}  // namespace
}  // namespace syspgo::node
