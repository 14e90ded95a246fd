// SPDX-License-Identifier: Apache-2.0
#include "oci/reference.h"

#include <gtest/gtest.h>

namespace syspgo::oci {
namespace {

TEST(ReferenceTest, DockerHubDefaults) {
  auto r = ImageReference::Parse("busybox");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registry, "docker.io");
  EXPECT_EQ(r->repository, "library/busybox");
  EXPECT_EQ(r->tag, "latest");
  EXPECT_EQ(r->RegistryHost(), "registry-1.docker.io");
}

TEST(ReferenceTest, RegistryWithPortTagAndDigest) {
  std::string d = "sha256:" + std::string(64, 'a');
  auto r = ImageReference::Parse("127.0.0.1:5000/team/app:v1.2@" + d);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "team/app");
  EXPECT_EQ(r->tag, "v1.2");
  EXPECT_EQ(r->digest, d);
  EXPECT_EQ(r->ManifestReference(), d);
  EXPECT_EQ(r->ToString(), "127.0.0.1:5000/team/app:v1.2@" + d);
}

TEST(ReferenceTest, LocalhostIsARegistry) {
  auto r = ImageReference::Parse("localhost/app");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->registry, "localhost");
  EXPECT_EQ(r->repository, "app");
}

TEST(ReferenceTest, RejectsInvalid) {
  EXPECT_FALSE(ImageReference::Parse("").ok());
  EXPECT_FALSE(ImageReference::Parse("host:5000/UPPER").ok());
  // As in Docker, an upper-case first component is a registry host.
  EXPECT_EQ(ImageReference::Parse("Host/app")->registry, "Host");
  EXPECT_FALSE(ImageReference::Parse("host:5000/app:bad tag").ok());
  EXPECT_FALSE(ImageReference::Parse("app@sha256:1234").ok());
  EXPECT_FALSE(ImageReference::Parse("app@md5:" + std::string(32, 'a')).ok());
  EXPECT_FALSE(ImageReference::Parse("host/a..b").ok());
}

TEST(DigestTest, ParseAndOf) {
  auto d = Digest::Parse("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, Digest::Of(""));
  EXPECT_FALSE(
      Digest::Parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
          .ok());
}

TEST(ReferenceTest, LoopbackDetection) {
  EXPECT_TRUE(IsLoopbackRegistry("127.0.0.1:5000"));
  EXPECT_TRUE(IsLoopbackRegistry("localhost"));
  EXPECT_TRUE(IsLoopbackRegistry("[::1]:5000"));
  EXPECT_FALSE(IsLoopbackRegistry("registry.example.com"));
  EXPECT_FALSE(IsLoopbackRegistry("127.example.com"));
}

}  // namespace
}  // namespace syspgo::oci
