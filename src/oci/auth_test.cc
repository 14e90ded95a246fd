// SPDX-License-Identifier: Apache-2.0
#include "oci/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "common/file_util.h"

namespace syspgo::oci {
namespace {

TEST(AuthTest, ParsesBearerChallenge) {
  auto c = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull")");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].scheme, "bearer");
  EXPECT_EQ((*c)[0].params.at("realm"), "https://auth.docker.io/token");
  EXPECT_EQ((*c)[0].params.at("scope"), "repository:library/busybox:pull");
  EXPECT_EQ(
      TokenRequestUrl((*c)[0], "repository:a/b:pull"),
      "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Aa%2Fb%3Apull");
}

TEST(AuthTest, ParsesSeveralChallengesAndEscapes) {
  auto c = ParseWwwAuthenticate(
      R"(Basic realm="a \"quoted\" realm", Bearer realm=x,error=invalid_token)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].scheme, "basic");
  EXPECT_EQ((*c)[0].params.at("realm"), "a \"quoted\" realm");
  EXPECT_EQ((*c)[1].params.at("realm"), "x");
  EXPECT_EQ((*c)[1].params.at("error"), "invalid_token");
}

TEST(AuthTest, RejectsMalformed) {
  EXPECT_FALSE(ParseWwwAuthenticate("").ok());
  EXPECT_FALSE(ParseWwwAuthenticate(R"(Bearer realm="unterminated)").ok());
  EXPECT_FALSE(ParseWwwAuthenticate("=x").ok());
}

TEST(AuthTest, DockerConfigCredentials) {
  auto store = CredentialStore::FromConfigJson(R"({"auths":{
      "https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
      "reg.example.com:5000":{"username":"u2","password":"p2"}}})");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto hub = store->Lookup("docker.io");
  ASSERT_TRUE(hub.ok() && hub->has_value());
  EXPECT_EQ((*hub)->username, "user");
  EXPECT_EQ((*hub)->password, "pass");
  EXPECT_NE((*hub)->source.find("auths entry for index.docker.io"), std::string::npos);
  auto other = store->Lookup("reg.example.com:5000");
  ASSERT_TRUE(other.ok() && other->has_value());
  EXPECT_EQ((*other)->password, "p2");
  EXPECT_FALSE(store->Lookup("unknown.example.com")->has_value());
  EXPECT_FALSE(CredentialStore::FromConfigJson(R"({"auths":{"h":{"auth":"!!"}}})").ok());
  EXPECT_FALSE(CredentialStore::FromConfigJson("nope").ok());
}

// A credential helper as docker runs it: `docker-credential-NAME get`, the
// server on stdin, JSON on stdout; "credentials not found" is no answer.
class CredentialHelperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/syspgo-credhelper-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)RemoveTree(dir_); }
  void Helper(const std::string& name, const std::string& body) {
    const std::string path = JoinPath(dir_, "docker-credential-" + name);
    ASSERT_TRUE(WriteFileAtomic(path, "#!/bin/sh\n" + body, 0755).ok());
  }
  std::string dir_;
};

TEST_F(CredentialHelperTest, HelpersAnswerPerHostAndForTheRest) {
  // The per-host helper echoes what it was asked for, so the test sees the
  // server name docker would pass.
  Helper("perhost", R"(read server; [ "$1" = get ] || exit 3
printf '{"ServerURL":"%s","Username":"u-%s","Secret":"s3cret"}' "$server" "$server")");
  Helper("store", R"(read server
case "$server" in
  tok.example) echo '{"Username":"<token>","Secret":"idtok"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac)");
  Helper("broken", "echo 'keychain is locked' >&2; exit 4");
  auto store = CredentialStore::FromConfigJson(R"({
      "auths": {"plain.example": {"auth": "YTpi"}},
      "credHelpers": {"reg.example:5000": "perhost", "bad.example": "broken"},
      "credsStore": "store"})",
                                               "/etc/test/config.json");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  store->set_helper_path(dir_);
  auto per_host = store->Lookup("reg.example:5000");
  ASSERT_TRUE(per_host.ok() && per_host->has_value()) << per_host.status().ToString();
  EXPECT_EQ((*per_host)->username, "u-reg.example:5000");
  EXPECT_EQ((*per_host)->password, "s3cret");
  EXPECT_EQ((*per_host)->source,
            "credential helper docker-credential-perhost (credHelpers in /etc/test/config.json)");
  auto token = store->Lookup("tok.example");
  ASSERT_TRUE(token.ok() && token->has_value());
  EXPECT_EQ((*token)->username, "");  // "<token>": an identity token
  EXPECT_EQ((*token)->password, "idtok");
  EXPECT_NE((*token)->source.find("credsStore"), std::string::npos);
  // The store's helper has none: the auths entry still answers.
  auto plain = store->Lookup("plain.example");
  ASSERT_TRUE(plain.ok() && plain->has_value());
  EXPECT_EQ((*plain)->username, "a");
  EXPECT_FALSE(store->Lookup("none.example")->has_value());
  EXPECT_NE(store->Describe("none.example").find("docker-credential-store has none"),
            std::string::npos);
  auto broken = store->Lookup("bad.example");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("keychain is locked"), std::string::npos);
  EXPECT_NE(broken.status().message().find("docker-credential-broken"), std::string::npos);
  // A helper that is not installed is an error naming it, not "no login".
  auto missing = CredentialStore::FromConfigJson(R"({"credsStore":"nosuch"})");
  missing->set_helper_path(dir_);
  auto m = missing->Lookup("x.example");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("docker-credential-nosuch"), std::string::npos);
}

TEST_F(CredentialHelperTest, DefaultConfigClosedToUsIsNoCredentialsNotAnError) {
  // As a non-root user with HOME=/root (mode 0700): the directory cannot be
  // entered, so whether a config.json exists there is not ours to know.
  struct stat st;
  if (::stat("/root", &st) != 0 || (st.st_mode & 0007) != 0) {
    GTEST_SKIP() << "/root is open to others here; nothing to test";
  }
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    ::setenv("HOME", "/root", 1);
    ::unsetenv("DOCKER_CONFIG");
    auto store = CredentialStore::Load("");
    if (!store.ok()) ::_exit(11);
    if (store->Describe("x").find("which we may not read") == std::string::npos) ::_exit(12);
    // A path the user named is still an error when it cannot be read.
    if (CredentialStore::Load("/root/.docker/config.json").ok()) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(AuthTest, TokenResponse) {
  EXPECT_EQ(*ParseTokenResponse(R"({"token":"t1"})"), "t1");
  EXPECT_EQ(*ParseTokenResponse(R"({"access_token":"t2"})"), "t2");
  EXPECT_FALSE(ParseTokenResponse(R"({"token":""})").ok());
  EXPECT_FALSE(ParseTokenResponse("x").ok());
}

TEST(AuthTest, TokenCacheIsKeyed) {
  TokenCache cache;
  cache.Put("a", "1");
  EXPECT_EQ(*cache.Get("a"), "1");
  EXPECT_FALSE(cache.Get("b").has_value());
  cache.Drop("a");
  EXPECT_FALSE(cache.Get("a").has_value());
}

}  // namespace
}  // namespace syspgo::oci
