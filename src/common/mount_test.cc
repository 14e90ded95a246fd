// SPDX-License-Identifier: Apache-2.0
#include "common/mount.h"

#include <gtest/gtest.h>

namespace syspgo {
namespace {

TEST(MountInfoTest, FieldsOptionalTagsAndEscapes) {
  const std::string text =
      "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
      "90 22 0:52 / /tmp/a\\040b rw,nosuid - fuse.syspgo syspgo ro,user_id=0\n"
      "91 22 0:53 /sub /mnt/bind rw master:2 propagate_from:1 - ext4 /dev/vda rw\n"
      "garbage line\n"
      "92 22 x:1 / /bad rw - ext4 /dev/x rw\n"
      "93 22 0:54 / /no-dash rw ext4 /dev/x rw";
  std::vector<MountInfo> m = ParseMountInfo(text);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].major, 254u);
  EXPECT_EQ(m[0].minor, 0u);
  EXPECT_EQ(m[0].mount_point, "/");
  EXPECT_EQ(m[0].fstype, "ext4");
  EXPECT_EQ(m[1].mount_point, "/tmp/a b") << "\\040 is a space";
  EXPECT_EQ(m[1].fstype, "fuse.syspgo");
  EXPECT_EQ(m[2].root, "/sub");
  EXPECT_EQ(m[2].mount_point, "/mnt/bind");
  EXPECT_EQ(m[2].fstype, "ext4") << "optional fields before the dash";
  EXPECT_EQ(m[0].source, "/dev/vda");
  EXPECT_EQ(m[1].source, "syspgo");
  EXPECT_EQ(m[1].super_options, "ro,user_id=0");
}

TEST(MountInfoTest, OurOwnNamespaceHasARoot) {
  std::vector<MountInfo> m = ReadMountInfo();
  ASSERT_FALSE(m.empty());
  bool root = false;
  for (const MountInfo& e : m) root = root || e.mount_point == "/";
  EXPECT_TRUE(root);
}

}  // namespace
}  // namespace syspgo
