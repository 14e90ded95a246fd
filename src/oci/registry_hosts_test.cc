// SPDX-License-Identifier: Apache-2.0
#include "oci/registry_hosts.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/file_util.h"

namespace syspgo::oci {
namespace {

constexpr char kPem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

class RegistryHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/syspgo-certsd-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.certs_dirs = {JoinPath(dir_, "containerd"), JoinPath(dir_, "docker")};
  }
  void TearDown() override { (void)RemoveTree(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    const std::string path = JoinPath(dir_, rel);
    ASSERT_TRUE(MakeDirs(DirName(path)).ok());
    ASSERT_TRUE(WriteFileAtomic(path, text, 0644).ok());
  }
  std::string dir_;
  RegistryHostsOptions options_;
};

TEST_F(RegistryHostsTest, WithoutConfigurationTheRegistryItself) {
  auto remote = ResolveRegistryEndpoints("registry.example.com", options_);
  ASSERT_TRUE(remote.ok()) << remote.status().ToString();
  ASSERT_EQ(remote->size(), 1u);
  EXPECT_EQ((*remote)[0].api_root, "https://registry.example.com/v2");
  EXPECT_TRUE((*remote)[0].tls.verify);
  EXPECT_TRUE((*remote)[0].push);
  auto hub = ResolveRegistryEndpoints("docker.io", options_);
  EXPECT_EQ((*hub)[0].origin, "https://registry-1.docker.io");
  auto loop = ResolveRegistryEndpoints("127.0.0.1:5000", options_);
  EXPECT_EQ((*loop)[0].origin, "http://127.0.0.1:5000");
  options_.tls_verify = false;  // still TLS, not plain HTTP
  auto unverified = ResolveRegistryEndpoints("registry.example.com", options_);
  EXPECT_EQ((*unverified)[0].origin, "https://registry.example.com");
  EXPECT_FALSE((*unverified)[0].tls.verify);
}

TEST_F(RegistryHostsTest, HostsTomlMirrorsInFileOrderThenTheServer) {
  Write("containerd/reg.example:5000/ca.pem", kPem);
  Write("containerd/reg.example:5000/client.cert", "c");
  Write("containerd/reg.example:5000/client.key", "k");
  Write("containerd/reg.example:5000/hosts.toml", R"(
server = "https://reg.example:5000"
ca = "ca.pem"

[host."https://zz-mirror.local:8443/cache"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
  [host."https://zz-mirror.local:8443/cache".header]
    x-tenant = "a"

[host."http://aa-mirror.local"]
  capabilities = ["pull"]
  override_path = true
  client = [["client.cert", "client.key"]]
)");
  auto eps = ResolveRegistryEndpoints("reg.example:5000", options_);
  ASSERT_TRUE(eps.ok()) << eps.status().ToString();
  ASSERT_EQ(eps->size(), 3u);
  // The file's order, not the keys' sorted order.
  EXPECT_EQ((*eps)[0].api_root, "https://zz-mirror.local:8443/cache/v2");
  EXPECT_TRUE((*eps)[0].mirror);
  EXPECT_FALSE((*eps)[0].tls.verify);
  EXPECT_FALSE((*eps)[0].push);
  EXPECT_EQ((*eps)[0].headers, std::vector<std::string>{"x-tenant: a"});
  EXPECT_EQ((*eps)[1].api_root, "http://aa-mirror.local");
  EXPECT_FALSE((*eps)[1].resolve);
  EXPECT_EQ((*eps)[1].tls.client_cert, JoinPath(dir_, "containerd/reg.example:5000/client.cert"));
  EXPECT_EQ((*eps)[1].tls.client_key, JoinPath(dir_, "containerd/reg.example:5000/client.key"));
  EXPECT_EQ((*eps)[2].origin, "https://reg.example:5000");
  EXPECT_FALSE((*eps)[2].mirror);
  EXPECT_EQ((*eps)[2].tls.ca_pem, kPem);
  EXPECT_TRUE((*eps)[2].push);
}

// Harbor's example: a host section for the server's own URL holds its CA.
// It configures the registry (asked once, pushed to with that CA), not a
// mirror that a pull or a push would ask first.
TEST_F(RegistryHostsTest, HostSectionForTheServerConfiguresTheServer) {
  Write("containerd/harbor.example/ca.crt", kPem);
  Write("containerd/harbor.example/hosts.toml", R"(
server = "https://harbor.example"

[host."https://harbor.example"]
  capabilities = ["pull", "resolve"]
  ca = "ca.crt"
  [host."https://harbor.example".header]
    x-project = "p"
)");
  auto eps = ResolveRegistryEndpoints("harbor.example", options_);
  ASSERT_TRUE(eps.ok()) << eps.status().ToString();
  ASSERT_EQ(eps->size(), 1u);
  const RegistryEndpoint& server = (*eps)[0];
  EXPECT_FALSE(server.mirror);
  EXPECT_TRUE(server.push);
  EXPECT_TRUE(server.pull && server.resolve);
  EXPECT_EQ(server.tls.ca_pem, kPem);
  EXPECT_EQ(server.headers, std::vector<std::string>{"x-project: p"});
}

TEST_F(RegistryHostsTest, DockerCertsDirMakesALoopbackRegistryTls) {
  Write("docker/127.0.0.1:5443/ca.crt", kPem);
  Write("docker/127.0.0.1:5443/me.cert", "c");
  Write("docker/127.0.0.1:5443/me.key", "k");
  auto eps = ResolveRegistryEndpoints("127.0.0.1:5443", options_);
  ASSERT_TRUE(eps.ok()) << eps.status().ToString();
  ASSERT_EQ(eps->size(), 1u);
  EXPECT_EQ((*eps)[0].origin, "https://127.0.0.1:5443");
  EXPECT_EQ((*eps)[0].tls.ca_pem, kPem);
  EXPECT_EQ(BaseName((*eps)[0].tls.client_key), "me.key");
  // containerd's directory wins over docker's.
  Write("containerd/127.0.0.1:5443/hosts.toml", "server = \"http://127.0.0.1:5443\"\n");
  eps = ResolveRegistryEndpoints("127.0.0.1:5443", options_);
  EXPECT_EQ((*eps)[0].origin, "http://127.0.0.1:5443");
}

TEST_F(RegistryHostsTest, DefaultDirectoryServesAnyHost) {
  Write("containerd/_default/hosts.toml", "[host.\"https://mirror.local\"]\n");
  auto eps = ResolveRegistryEndpoints("any.example", options_);
  ASSERT_TRUE(eps.ok()) << eps.status().ToString();
  ASSERT_EQ(eps->size(), 2u);
  EXPECT_EQ((*eps)[0].origin, "https://mirror.local");
  EXPECT_EQ((*eps)[1].origin, "https://any.example");
}

TEST_F(RegistryHostsTest, MistakesAreErrorsNamingTheFile) {
  Write("containerd/a.example/hosts.toml", "server = \n");
  auto bad = ResolveRegistryEndpoints("a.example", options_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("a.example/hosts.toml:1"), std::string::npos)
      << bad.status().ToString();
  Write("containerd/b.example/hosts.toml", "ca = \"missing.pem\"\n");
  auto missing = ResolveRegistryEndpoints("b.example", options_);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.pem"), std::string::npos);
  Write("containerd/c.example/hosts.toml", "[host.\"ftp://x\"]\n");
  EXPECT_FALSE(ResolveRegistryEndpoints("c.example", options_).ok());
  Write("containerd/d.example/hosts.toml", "capabilities = [\"fly\"]\n");
  EXPECT_FALSE(ResolveRegistryEndpoints("d.example", options_).ok());
  Write("containerd/e.example/ca.crt", "not a certificate");
  EXPECT_FALSE(ResolveRegistryEndpoints("e.example", options_).ok());
}

}  // namespace
}  // namespace syspgo::oci
