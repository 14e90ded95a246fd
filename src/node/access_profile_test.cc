// SPDX-License-Identifier: Apache-2.0
// A trace as the builder takes it: the image's own files kept with their
// ranges, other images' layers counted and left out, host paths kept for
// the builder to judge, /etc/passwd and /etc/group added.
#include "node/access_profile.h"

#include <gtest/gtest.h>

namespace syspgo::node {
namespace {

trace::TracedFile File(std::string path, std::string layer, uint64_t first, uint64_t pages) {
  trace::TracedFile f;
  f.path = std::move(path);
  f.layer = std::move(layer);
  f.first_access_ns = 7;
  f.ranges.push_back({trace::AccessKind::kRead, first, pages});
  return f;
}

TEST(AccessProfileTest, KeepsTheImagesFilesAndAddsTheUserFiles) {
  oci::LocalImage image;
  const oci::Digest ours = oci::Digest::Of("ours"), theirs = oci::Digest::Of("theirs");
  image.config.diff_ids = {ours};
  trace::Trace t;
  t.target = "image x";
  t.ready = "exit";
  t.page_size = 16384;
  t.files = {File("/usr/bin/app", ours.ToString(), 0, 3),
             File("/usr/lib/other.so", theirs.ToString(), 1, 1), File("/etc/hosts", "", 0, 1),
             File("", ours.ToString(), 0, 1)};
  uint64_t foreign = 0;
  const rtimage::AccessProfile p = AccessProfileOf(t, image, &foreign);
  EXPECT_EQ(foreign, 1u);
  EXPECT_EQ(p.source, "image x until exit");
  EXPECT_EQ(p.page_size, 16384u);
  std::vector<std::string> paths;
  for (const auto& f : p.files) paths.push_back(f.path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"/usr/bin/app", "/etc/hosts", "/etc/passwd", "/etc/group"}));
  EXPECT_EQ(p.files[0].pages, (std::vector<std::pair<uint64_t, uint64_t>>{{0, 3}}));
  EXPECT_EQ(p.files[0].first_access_ns, 7u);
}

}  // namespace
}  // namespace syspgo::node
