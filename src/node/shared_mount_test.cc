// SPDX-License-Identifier: Apache-2.0
// The parts of the node's shared mounts that need no mount: statistics on
// the wire, reference names, refusals that come before any registry
// request, and releasing what is not there. The mounts themselves are
// tests/integration/lazy_fs_test.cc's and containerd_test.cc's.
#include "node/shared_mount.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "common/file_util.h"

namespace syspgo::node {
namespace {

TEST(MountStatsTest, RoundTrip) {
  MountStats s;
  s.mode = "rtimage";
  s.registry_requests = 7;
  s.registry_bytes = 1 << 20;
  s.locate_requests = 4;
  s.fallback_requests = 2;
  s.misses = 3;
  s.errors = 1;
  s.references = 2;
  s.settled = true;
  s.exit_unreferenced = true;
  s.fs = {{"fuse", {{"reads", 5}}}};
  auto back = MountStats::FromJson(nlohmann::json::parse(s.ToJson().dump()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), s.ToJson());
  EXPECT_FALSE(MountStats::FromJson(nlohmann::json::array()).ok());
  EXPECT_FALSE(MountStats::FromJson({{"misses", "many"}}).ok());
}

TEST(SharedMountsTest, ProcessHolderNamesThisProcess) {
  const std::string name = ProcessHolderName();
  const std::string prefix = "pid-" + std::to_string(::getpid()) + "-";
  ASSERT_EQ(name.rfind(prefix, 0), 0u) << name;
  EXPECT_GT(std::stoull(name.substr(prefix.size())), 0u) << "the start time";
  EXPECT_EQ(ProcessHolderName(), name);
}

TEST(SharedMountsTest, RefusalsBeforeAnyRequest) {
  auto dir = TempDir::Create("/tmp", "syspgo-node-");
  ASSERT_TRUE(dir.ok());
  RegistrySetup setup;
  setup.Wire(nullptr);
  SharedMounts mounts(dir->path(), &setup);
  auto ref = oci::ImageReference::Parse("127.0.0.1:1/app@sha256:" + std::string(64, 'a'));
  ASSERT_TRUE(ref.ok());
  rtimage::TrustDecision none;  // kNone
  none.source = "test policy";
  AcquireOptions o;
  o.binary = "/nonexistent";
  auto r = mounts.Acquire(*ref, none, o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status().ToString();
  EXPECT_NE(r.status().message().find("test policy"), std::string::npos);
  rtimage::TrustDecision unsigned_ok;
  unsigned_ok.accept = rtimage::Acceptance::kUnsigned;
  o.holder = "bad/name";
  auto digest = oci::Digest::Parse("sha256:" + std::string(64, 'b'));
  ASSERT_TRUE(digest.ok());
  oci::ResolvedManifest resolved;
  resolved.descriptor.digest = *digest;
  auto bad = mounts.AcquireResolved(*ref, resolved, unsigned_ok, o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  // Nothing to release, nothing live, nothing left.
  EXPECT_TRUE(mounts.Release(*digest, "snap-1").ok());
  EXPECT_FALSE(mounts.Release(*digest, "../x").ok());
  EXPECT_FALSE(mounts.Live(*digest));
  EXPECT_TRUE(mounts.References().empty());
}

}  // namespace
}  // namespace syspgo::node
