// SPDX-License-Identifier: Apache-2.0
// File: oci/auth.h
//
// Registry authentication: WWW-Authenticate challenges, credentials from a
// docker-style config.json, and a thread-safe cache of bearer tokens.
#ifndef SYSPGO_OCI_AUTH_H_
#define SYSPGO_OCI_AUTH_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syspgo::oci {

struct AuthChallenge {
  std::string scheme;  // lowercase: "bearer" or "basic"
  std::map<std::string, std::string> params;  // keys lowercase
};

// Parses a WWW-Authenticate header value (RFC 7235), possibly holding several
// challenges: `Bearer realm="https://auth",service="reg",scope="a,b"`.
Result<std::vector<AuthChallenge>> ParseWwwAuthenticate(std::string_view value);

struct Credentials {
  std::string username;
  std::string password;  // or identity token when username is empty
  bool empty() const { return username.empty() && password.empty(); }
};

// Credentials keyed by registry host, read from a docker config.json.
class CredentialStore {
 public:
  CredentialStore() = default;
  // Parses the JSON text of a config.json ("auths" -> host -> "auth" as
  // base64 of "user:password", or "username"/"password" fields).
  static Result<CredentialStore> FromConfigJson(std::string_view json);
  // Loads `path`; when path is empty, $DOCKER_CONFIG/config.json, then
  // ~/.docker/config.json. A missing default file gives an empty store.
  static Result<CredentialStore> Load(const std::string& path);

  // For a registry as the user wrote it ("docker.io", "host:5000").
  std::optional<Credentials> Lookup(std::string_view registry) const;
  void Add(std::string registry, Credentials c) {
    entries_[std::move(registry)] = std::move(c);
  }

 private:
  std::map<std::string, Credentials> entries_;
};

// Bearer tokens per (host, scope), shared by the threads of one pull.
class TokenCache {
 public:
  std::optional<std::string> Get(const std::string& key) const;
  void Put(const std::string& key, std::string token);
  void Drop(const std::string& key);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> tokens_;  // guarded by mu_
};

// The "repository:<name>:<actions>" scope for a repository.
std::string RepositoryScope(std::string_view repository, bool push);

// The URL to ask the token service: realm?service=..&scope=.. (escaped).
std::string TokenRequestUrl(const AuthChallenge& challenge,
                            std::string_view scope);
// The token from a token-service response ("token" or "access_token").
Result<std::string> ParseTokenResponse(std::string_view body);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_AUTH_H_
