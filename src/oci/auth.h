// SPDX-License-Identifier: Apache-2.0
// File: oci/auth.h
//
// Registry authentication: WWW-Authenticate challenges, credentials from a
// docker-style config.json, and a thread-safe cache of bearer tokens.
#ifndef SYSPGO_OCI_AUTH_H_
#define SYSPGO_OCI_AUTH_H_

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syspgo::oci {

struct AuthChallenge {
  std::string scheme;                         // lowercase: "bearer" or "basic"
  std::map<std::string, std::string> params;  // keys lowercase
};

// Parses a WWW-Authenticate header value (RFC 7235), possibly holding several
// challenges: `Bearer realm="https://auth",service="reg",scope="a,b"`.
Result<std::vector<AuthChallenge>> ParseWwwAuthenticate(std::string_view value);

struct Credentials {
  std::string username;
  std::string password;  // or identity token when username is empty
  // Where they came from, for messages: "the auths entry for HOST in FILE",
  // "credential helper docker-credential-NAME (credHelpers in FILE)".
  std::string source;
  bool empty() const { return username.empty() && password.empty(); }
};

// Credentials keyed by registry host, from a docker-style config.json:
// "auths" entries, and the credential helpers it names ("credHelpers" per
// host, "credsStore" for every other host), run as
// `docker-credential-NAME get` with the server on stdin, as docker does.
class CredentialStore {
 public:
  CredentialStore();
  // Parses the JSON text of a config.json ("auths" -> host -> "auth" as
  // base64 of "user:password", or "username"/"password" fields).
  // `origin` names the file in messages.
  static Result<CredentialStore> FromConfigJson(std::string_view json,
                                                const std::string& origin = "config.json");
  // Loads `path`; when path is empty, $DOCKER_CONFIG/config.json, then
  // ~/.docker/config.json. A default file that is missing, or that cannot
  // be read because its directory is closed to us (a non-root user with
  // HOME=/root), gives an empty store that says so in Describe().
  static Result<CredentialStore> Load(const std::string& path);

  // For a registry as the user wrote it ("docker.io", "host:5000"). A
  // helper that fails (other than "not found") is an error naming it.
  // Helper answers are kept for five minutes.
  Result<std::optional<Credentials>> Lookup(std::string_view registry) const;
  // Where credentials for `registry` are (or would be) looked for, for
  // messages: "no credentials for HOST in FILE (no auths entry, no helper)".
  std::string Describe(std::string_view registry) const;
  void Add(std::string registry, Credentials c) { entries_[std::move(registry)] = std::move(c); }
  // The directories searched for docker-credential-* programs; empty: $PATH.
  void set_helper_path(std::string path) { helper_path_ = std::move(path); }

 private:
  struct HelperCache;
  std::optional<std::string> HelperFor(std::string_view registry) const;
  std::string origin_ = "no docker config.json";
  std::map<std::string, Credentials> entries_;
  std::map<std::string, std::string> helpers_;  // credHelpers: host -> name
  std::string default_helper_;                  // credsStore
  std::string helper_path_;
  std::shared_ptr<HelperCache> cache_;  // thread-safe inside
};

// Runs `docker-credential-<helper> get` for `server` (PATH lookup in
// `search_path` when set). nullopt when the helper has none for it.
Result<std::optional<Credentials>> RunCredentialHelper(const std::string& helper,
                                                       const std::string& server,
                                                       const std::string& search_path);

// Bearer tokens per (host, scope), shared by the threads of one pull.
class TokenCache {
 public:
  std::optional<std::string> Get(const std::string& key) const;
  void Put(const std::string& key, std::string token);
  void Drop(const std::string& key);
  // The tokens for `scope` ("repository:<name>:pull"), whatever the
  // endpoint: key ("<origin> <scope>") -> token.
  std::map<std::string, std::string> ForScope(std::string_view scope) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> tokens_;  // guarded by mu_
};

// The "repository:<name>:<actions>" scope for a repository.
std::string RepositoryScope(std::string_view repository, bool push);

// The URL to ask the token service: realm?service=..&scope=.. (escaped).
std::string TokenRequestUrl(const AuthChallenge& challenge, std::string_view scope);
// The token from a token-service response ("token" or "access_token").
Result<std::string> ParseTokenResponse(std::string_view body);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_AUTH_H_
