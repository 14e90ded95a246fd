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

// Every spelling of a host gives one name (trust policy scopes compare
// them); what cannot be normalized is an error.
TEST(ReferenceTest, NormalizeRegistryHost) {
  const std::pair<const char*, const char*> same[] = {
      {"Registry.Example.COM", "registry.example.com"},
      {"registry.example.com.", "registry.example.com"},
      {"registry.example.com:443", "registry.example.com"},
      {"registry.example.com:80", "registry.example.com"},
      {"registry.example.com:05000", "registry.example.com:5000"},
      {"index.docker.io", "docker.io"},
      {"registry-1.docker.io", "docker.io"},
      {"localhost:5000", "localhost:5000"},
      {"LOCALHOST:5000", "localhost:5000"},
      {"127.0.0.1:5000", "localhost:5000"},
      {"127.1:5000", "localhost:5000"},
      {"127.0.0.2:5000", "localhost:5000"},
      {"0x7f.0.0.1:5000", "localhost:5000"},
      {"2130706433:5000", "localhost:5000"},
      {"[::1]:5000", "localhost:5000"},
      {"[0:0:0:0:0:0:0:1]:5000", "localhost:5000"},
      {"[::ffff:127.0.0.1]:5000", "localhost:5000"},
      {"10.1:5000", "10.0.0.1:5000"},
      {"[2001:DB8:0::1]", "[2001:db8::1]"},
      {"123abc.de", "123abc.de"},
  };
  for (const auto& [in, want] : same) {
    auto got = NormalizeRegistryHost(in);
    ASSERT_TRUE(got.ok()) << in << ": " << got.status().ToString();
    EXPECT_EQ(*got, want) << in;
  }
  for (const char* bad : {"", "bad_host.com", "a..b", "-a.com", "host:", "host:0", "host:65536",
                          "host:5x", "[::1", "[nope]:5000", "[::1]x", "h\xc3\xa9.com", "a b"}) {
    EXPECT_EQ(NormalizeRegistryHost(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace syspgo::oci
