// SPDX-License-Identifier: Apache-2.0
// A private registry as operators run one: TLS with a certificate from
// their own CA, htpasswd logins, and credentials from a docker credential
// helper. syspgo is configured the way containerd and docker are
// (certs.d/HOST/hosts.toml and ca.crt, config.json credHelpers), and must
// pull and run from it; a wrong password or an unknown CA must fail with a
// message naming the registry and the source of the credentials.
#include <unistd.h>

#include <cstdlib>
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/process.h"
#include "integration/integration_env.h"
#include "oci/image_builder.h"
#include "oci/manifest.h"
#include "oci/registry_client.h"

extern char** environ;

namespace syspgo::testing {
namespace {

constexpr char kUser[] = "alice";
constexpr char kPassword[] = "correct horse battery";

class PrivateRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_INTEGRATION_ENV();
    if (::access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "openssl is not installed";
    RegistryFixtureOptions options;
    options.tls = true;
    options.user = kUser;
    options.password = kPassword;
    auto registry = RegistryFixture::Start(options);
    ASSERT_TRUE(registry.ok()) << registry.status().ToString();
    registry_ = std::move(*registry);
    auto dir = TempDir::Create("/tmp", "syspgo-private-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    host_ = registry_->address();
    // containerd's way: certs.d/HOST/hosts.toml naming the server and its CA.
    certs_ = JoinPath(dir_.path(), "certs.d");
    const std::string host_dir = JoinPath(certs_, host_);
    ASSERT_TRUE(MakeDirs(host_dir).ok());
    auto ca = ReadFileToString(registry_->ca_path());
    ASSERT_TRUE(ca.ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(host_dir, "ca.crt"), *ca, 0644).ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(host_dir, "hosts.toml"),
                                "server = \"https://" + host_ + "\"\nca = \"ca.crt\"\n", 0644)
                    .ok());
    // Two helpers: one knows the password, one a wrong one; each leaves a
    // mark naming the server it was asked about.
    helpers_ = JoinPath(dir_.path(), "bin");
    ASSERT_TRUE(MakeDirs(helpers_).ok());
    for (const auto& [name, password] :
         {std::pair<std::string, std::string>{"vault", kPassword}, {"stale", "an old password"}}) {
      const std::string script =
          "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread server\n"
          "echo \"$server\" > " +
          JoinPath(dir_.path(), name + ".asked") +
          "\n"
          "printf '{\"ServerURL\":\"%s\",\"Username\":\"" +
          std::string(kUser) + "\",\"Secret\":\"" + password + "\"}' \"$server\"\n";
      ASSERT_TRUE(
          WriteFileAtomic(JoinPath(helpers_, "docker-credential-" + name), script, 0755).ok());
      ASSERT_TRUE(WriteFileAtomic(JoinPath(dir_.path(), name + ".json"),
                                  "{\"credHelpers\":{\"" + host_ + "\":\"" + name + "\"}}", 0600)
                      .ok());
    }
    image_ = host_ + "/private/busybox:v1";
    // Pushed through the same configuration (TLS with the CA from certs.d,
    // basic auth).
    auto pushed = PushWithLogin(image_, {{IntegrationEnv::Get().busybox_rootfs(), ""}}, kUser,
                                kPassword, certs_);
    ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  }

  // The syspgo binary with the helpers on PATH.
  Result<CommandOutput> Syspgo(std::vector<std::string> args) {
    std::vector<std::string> argv = {SYSPGO_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions options;
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string_view(*e).starts_with("PATH=")) continue;
      env.emplace_back(*e);
    }
    const char* path = std::getenv("PATH");
    env.push_back("PATH=" + helpers_ + ":" + (path ? path : "/usr/sbin:/usr/bin:/sbin:/bin"));
    options.env = env;
    return RunCommand(argv, options);
  }
  std::string Root(const std::string& name) { return JoinPath(dir_.path(), name); }

  std::unique_ptr<RegistryFixture> registry_;
  TempDir dir_;
  std::string host_, certs_, helpers_, image_;
};

TEST_F(PrivateRegistryTest, PullsAndRunsWithTheCaFromCertsDAndAHelpersLogin) {
  // A runtime image (metadata and index) built and pushed through the same
  // configuration, so the lazy mount server's requests go through it too.
  const std::string auth = JoinPath(dir_.path(), "vault.json");
  const std::string rt = JoinPath(dir_.path(), "rt");
  for (const std::vector<std::string>& step :
       {std::vector<std::string>{"image", "build", "--root", Root("builder"), "--certs-dir", certs_,
                                 "--authfile", auth, image_, "--no-trace", "-o", rt},
        std::vector<std::string>{"image", "push", "--root", Root("builder"), "--certs-dir", certs_,
                                 "--authfile", auth, image_, rt}}) {
    auto out = Syspgo(step);
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(out->exit.success()) << step[1] << ": " << out->output;
  }
  for (const std::string mode : {"full", "lazy"}) {
    SCOPED_TRACE(mode);
    auto out = Syspgo({"run", "--root", Root("root-" + mode), "--mode", mode, "--certs-dir", certs_,
                       "--authfile", JoinPath(dir_.path(), "vault.json"), image_, "--", "sh", "-c",
                       "echo hello from a private registry"});
    ASSERT_TRUE(out.ok());
    EXPECT_TRUE(out->exit.success()) << out->output;
    EXPECT_NE(out->output.find("hello from a private registry\n"), std::string::npos)
        << out->output;
  }
  // The helper was asked, about this registry.
  auto asked = ReadFileToString(JoinPath(dir_.path(), "vault.asked"));
  ASSERT_TRUE(asked.ok()) << "the credential helper was never run";
  EXPECT_EQ(*asked, host_ + "\n");
}

TEST_F(PrivateRegistryTest, AWrongPasswordNamesTheRegistryAndTheHelper) {
  auto out = Syspgo({"pull", "--root", Root("root"), "--no-progress", "--certs-dir", certs_,
                     "--authfile", JoinPath(dir_.path(), "stale.json"), image_});
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->exit.success());
  for (const std::string& part : {"registry " + host_ + " rejected the login",
                                  std::string("HTTP 401"), std::string("for user 'alice'"),
                                  "credential helper docker-credential-stale (credHelpers in " +
                                      JoinPath(dir_.path(), "stale.json") + ")"}) {
    EXPECT_NE(out->output.find(part), std::string::npos) << part << "\n" << out->output;
  }
  // No credentials at all: the message says where they were looked for.
  const std::string empty = JoinPath(dir_.path(), "empty.json");
  ASSERT_TRUE(WriteFileAtomic(empty, "{}", 0600).ok());
  auto anonymous = Syspgo({"pull", "--root", Root("root"), "--no-progress", "--certs-dir", certs_,
                           "--authfile", empty, image_});
  ASSERT_TRUE(anonymous.ok());
  EXPECT_FALSE(anonymous->exit.success());
  EXPECT_NE(anonymous->output.find("no credentials for " + host_ + " in " + empty),
            std::string::npos)
      << anonymous->output;
}

TEST_F(PrivateRegistryTest, AnUnknownCaIsRefusedUnlessVerificationIsTurnedOff) {
  // A hosts.toml that names the server but not its CA.
  const std::string bare = JoinPath(dir_.path(), "bare.d");
  ASSERT_TRUE(MakeDirs(JoinPath(bare, host_)).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(bare, host_ + "/hosts.toml"),
                              "server = \"https://" + host_ + "\"\n", 0644)
                  .ok());
  const std::string auth = JoinPath(dir_.path(), "vault.json");
  auto refused = Syspgo({"pull", "--root", Root("r1"), "--no-progress", "--certs-dir", bare,
                         "--authfile", auth, image_});
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->exit.success());
  EXPECT_NE(refused->output.find("certs.d"), std::string::npos) << refused->output;
  auto unverified = Syspgo({"pull", "--root", Root("r2"), "--no-progress", "--certs-dir", bare,
                            "--tls-verify=false", "--authfile", auth, image_});
  ASSERT_TRUE(unverified.ok());
  EXPECT_TRUE(unverified->exit.success()) << unverified->output;
  // Plain HTTP to a TLS registry says so, instead of a bare HTTP 400.
  const std::string none = JoinPath(dir_.path(), "none.d");
  ASSERT_TRUE(MakeDirs(none).ok());
  auto plain = Syspgo({"pull", "--root", Root("r3"), "--no-progress", "--certs-dir", none,
                       "--authfile", auth, image_});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->exit.success());
  EXPECT_NE(plain->output.find("the registry speaks TLS"), std::string::npos) << plain->output;
}

// Harbor's documented hosts.toml: a host section for the server's own URL
// holds its CA and the push capability. `syspgo image build` and pushes
// use it as containerd does: the registry itself, with that CA, asked
// once (it was taken for a mirror: a 404 on a blob there, then the
// server without a CA).
TEST_F(PrivateRegistryTest, HarborStyleHostsTomlPushesAndPulls) {
  const std::string harbor = JoinPath(dir_.path(), "harbor.d");
  const std::string host_dir = JoinPath(harbor, host_);
  ASSERT_TRUE(MakeDirs(host_dir).ok());
  auto ca = ReadFileToString(registry_->ca_path());
  ASSERT_TRUE(ca.ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(host_dir, "ca.crt"), *ca, 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(host_dir, "hosts.toml"),
                              "server = \"https://" + host_ + "\"\n\n[host.\"https://" + host_ +
                                  "\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n"
                                  "  ca = \"" +
                                  JoinPath(host_dir, "ca.crt") + "\"\n",
                              0644)
                  .ok());
  auto pushed =
      PushWithLogin(host_ + "/harbor/busybox:v1", {{IntegrationEnv::Get().busybox_rootfs(), ""}},
                    kUser, kPassword, harbor);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  oci::TokenCache tokens;
  oci::CredentialStore creds;
  creds.Add(host_, {kUser, kPassword, "the test"});
  oci::RegistryOptions ropts;
  ropts.tokens = &tokens;
  ropts.credentials = &creds;
  ropts.hosts.certs_dirs = {harbor};
  // Its config, as docker and buildkit write one: a default PATH, a time.
  auto client = oci::RegistryClient::Create(host_, ropts);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto manifest = client->GetManifest("harbor/busybox", pushed->manifest_digest.ToString());
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  auto doc = oci::ParseManifestDocument(manifest->media_type, manifest->body);
  ASSERT_TRUE(doc.ok() && doc->manifest);
  auto config_body = client->FetchSmallBlob("harbor/busybox", doc->manifest->config);
  ASSERT_TRUE(config_body.ok()) << config_body.status().ToString();
  auto config = oci::ParseImageConfig(*config_body);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->env, std::vector<std::string>{oci::kDefaultImagePath});
  EXPECT_EQ(config->created.size(), std::string("2026-12-07T10:00:00Z").size()) << *config_body;
  auto pulled =
      Syspgo({"pull", "--root", Root("harbor-root"), "--no-progress", "--certs-dir", harbor,
              "--authfile", JoinPath(dir_.path(), "vault.json"), host_ + "/harbor/busybox:v1"});
  ASSERT_TRUE(pulled.ok());
  EXPECT_TRUE(pulled->exit.success()) << pulled->output;
}

}  // namespace
}  // namespace syspgo::testing
