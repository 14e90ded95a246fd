// SPDX-License-Identifier: Apache-2.0
#include "oci/auth.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(TokenRequestUrl((*c)[0], "repository:a/b:pull"),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Aa%2Fb%3Apull");
}

TEST(AuthTest, ParsesSeveralChallengesAndEscapes) {
  auto c = ParseWwwAuthenticate(R"(Basic realm="a \"quoted\" realm", Bearer realm=x,error=invalid_token)");
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
  ASSERT_TRUE(hub.has_value());
  EXPECT_EQ(hub->username, "user");
  EXPECT_EQ(hub->password, "pass");
  auto other = store->Lookup("reg.example.com:5000");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->password, "p2");
  EXPECT_FALSE(store->Lookup("unknown.example.com").has_value());
  EXPECT_FALSE(CredentialStore::FromConfigJson(R"({"auths":{"h":{"auth":"!!"}}})").ok());
  EXPECT_FALSE(CredentialStore::FromConfigJson("nope").ok());
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
