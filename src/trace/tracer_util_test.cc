// SPDX-License-Identifier: Apache-2.0
#include <sys/sysmacros.h>

#include <gtest/gtest.h>

#include "trace/tracer.h"

namespace syspgo::trace {
namespace {

TEST(TracerUtilTest, SplitsLayerStorePaths) {
  std::string hex(64, 'c');
  auto [layer, path] = SplitLayerPath("/var/lib/syspgo/layers/sha256/" + hex + "/fs/usr/bin/x");
  EXPECT_EQ(layer, "sha256:" + hex);
  EXPECT_EQ(path, "/usr/bin/x");
  auto [none, host] = SplitLayerPath("/usr/bin/x");
  EXPECT_EQ(none, "");
  EXPECT_EQ(host, "/usr/bin/x");
  auto [short_layer, odd] = SplitLayerPath("/layers/sha256/abc/fs/x");
  EXPECT_EQ(short_layer, "");
}

TEST(TracerUtilTest, KernelDevEncoding) {
  EXPECT_EQ(KernelDev(makedev(8, 1)), (8u << 20) | 1u);
  EXPECT_EQ(KernelDev(makedev(259, 70000)), (259ull << 20) | 70000u);
}

}  // namespace
}  // namespace syspgo::trace
