// SPDX-License-Identifier: Apache-2.0
// Which root mounts are an image's, and following an image's processes
// (node/containers.h).
#include "node/containers.h"

#include <unistd.h>

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

// The follower hands each process to the tracker once, offers a refused
// one again at the next scan, and scans no more often than it is told.
TEST(ImageProcessFollowerTest, TracksEachProcessOnceAndRetriesRefusals) {
  std::vector<pid_t> there = {::getpid()};
  std::vector<pid_t> handed;
  bool refuse = true;
  const pid_t parent = ::getppid();
  ImageProcessFollower f([&] { return there; },
                         [&](pid_t p) {
                           handed.push_back(p);
                           if (p == parent && refuse) return Unavailable("exited meanwhile");
                           return Status::Ok();
                         },
                         std::chrono::hours(1));
  EXPECT_EQ(f.Poll(), 1u);
  EXPECT_EQ(f.Poll(), 0u);  // the same process is not handed over again
  there.push_back(parent);
  EXPECT_EQ(f.PollIfDue(), 0u);  // not due: nothing scanned
  EXPECT_EQ(f.Poll(), 0u);       // refused: not tracked
  refuse = false;
  EXPECT_EQ(f.Poll(), 1u);  // offered again
  EXPECT_EQ(f.tracked(), 2u);
  EXPECT_EQ(handed, (std::vector<pid_t>{::getpid(), parent, parent}));
  ImageProcessFollower every_time([&] { return there; }, [](pid_t) { return Status::Ok(); },
                                  std::chrono::milliseconds(0));
  EXPECT_EQ(every_time.PollIfDue(), 2u);
}

}  // namespace
}  // namespace syspgo::node
