// SPDX-License-Identifier: Apache-2.0
#include "oci/auth.h"

#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/file_util.h"

namespace syspgo::oci {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string UrlEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

Result<std::vector<AuthChallenge>> ParseWwwAuthenticate(
    std::string_view value) {
  std::vector<AuthChallenge> out;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
  };
  auto bad = [&](const std::string& why) {
    return Corruption("malformed WWW-Authenticate header '" +
                      std::string(value) + "': " + why);
  };
  while (true) {
    skip_ws();
    while (i < value.size() && value[i] == ',') {
      ++i;
      skip_ws();
    }
    if (i >= value.size()) break;
    size_t start = i;
    while (i < value.size() && IsTokenChar(value[i])) ++i;
    if (i == start) return bad("expected an auth scheme");
    AuthChallenge challenge;
    challenge.scheme = Lower(value.substr(start, i - start));
    // Parameters: name=value pairs separated by commas, until a token that is
    // not followed by '=' (the next challenge's scheme).
    while (true) {
      skip_ws();
      size_t mark = i;
      size_t name_start = i;
      while (i < value.size() && IsTokenChar(value[i])) ++i;
      if (i == name_start) break;
      std::string name = Lower(value.substr(name_start, i - name_start));
      skip_ws();
      if (i >= value.size() || value[i] != '=') {
        i = mark;  // a new challenge starts here
        break;
      }
      ++i;
      skip_ws();
      std::string param;
      if (i < value.size() && value[i] == '"') {
        ++i;
        bool closed = false;
        while (i < value.size()) {
          char c = value[i++];
          if (c == '\\' && i < value.size()) {
            param += value[i++];
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            param += c;
          }
        }
        if (!closed) return bad("unterminated quoted string");
      } else {
        size_t vstart = i;
        while (i < value.size() && value[i] != ',' && value[i] != ' ') ++i;
        param = std::string(value.substr(vstart, i - vstart));
      }
      challenge.params[name] = param;
      skip_ws();
      if (i < value.size() && value[i] == ',') ++i;
    }
    out.push_back(std::move(challenge));
  }
  if (out.empty()) return bad("no challenge");
  return out;
}

Result<CredentialStore> CredentialStore::FromConfigJson(std::string_view json) {
  auto j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Corruption("credentials file is not a JSON object");
  }
  CredentialStore store;
  auto auths = j.find("auths");
  if (auths == j.end()) return store;
  if (!auths->is_object()) return Corruption("credentials: 'auths' is not an object");
  for (auto it = auths->begin(); it != auths->end(); ++it) {
    const auto& entry = it.value();
    if (!entry.is_object()) continue;
    Credentials c;
    if (auto a = entry.find("auth"); a != entry.end() && a->is_string()) {
      auto decoded = Base64Decode(a->get<std::string>());
      if (!decoded) {
        return Corruption("credentials for " + it.key() +
                          ": 'auth' is not base64");
      }
      size_t colon = decoded->find(':');
      if (colon == std::string::npos) {
        return Corruption("credentials for " + it.key() +
                          ": 'auth' is not user:password");
      }
      c.username = decoded->substr(0, colon);
      c.password = decoded->substr(colon + 1);
    } else {
      if (auto u = entry.find("username"); u != entry.end() && u->is_string()) {
        c.username = u->get<std::string>();
      }
      if (auto p = entry.find("password"); p != entry.end() && p->is_string()) {
        c.password = p->get<std::string>();
      }
    }
    if (auto t = entry.find("identitytoken"); t != entry.end() && t->is_string()) {
      c.password = t->get<std::string>();
    }
    if (c.empty()) continue;
    // Keys may be URLs ("https://index.docker.io/v1/"); keep the host.
    std::string key = it.key();
    if (size_t scheme = key.find("://"); scheme != std::string::npos) {
      key = key.substr(scheme + 3);
    }
    if (size_t slash = key.find('/'); slash != std::string::npos) key.resize(slash);
    store.entries_[key] = c;
  }
  return store;
}

Result<CredentialStore> CredentialStore::Load(const std::string& path) {
  std::string file = path;
  bool explicit_path = !path.empty();
  if (!explicit_path) {
    if (const char* dir = std::getenv("DOCKER_CONFIG"); dir && *dir) {
      file = JoinPath(dir, "config.json");
    } else if (const char* home = std::getenv("HOME"); home && *home) {
      file = JoinPath(home, ".docker/config.json");
    } else {
      return CredentialStore();
    }
  }
  auto text = ReadFileToString(file);
  if (!text.ok()) {
    if (!explicit_path && text.status().code() == StatusCode::kNotFound) {
      return CredentialStore();
    }
    return text.status();
  }
  auto store = FromConfigJson(*text);
  if (!store.ok()) return store.status().WithContext(file);
  return store;
}

std::optional<Credentials> CredentialStore::Lookup(
    std::string_view registry) const {
  auto it = entries_.find(std::string(registry));
  if (it != entries_.end()) return it->second;
  if (registry == "docker.io" || registry == "registry-1.docker.io") {
    for (const char* alias : {"index.docker.io", "docker.io", "registry-1.docker.io"}) {
      it = entries_.find(alias);
      if (it != entries_.end()) return it->second;
    }
  }
  return std::nullopt;
}

std::optional<std::string> TokenCache::Get(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(key);
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

void TokenCache::Put(const std::string& key, std::string token) {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_[key] = std::move(token);
}

void TokenCache::Drop(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_.erase(key);
}

std::string RepositoryScope(std::string_view repository, bool push) {
  return "repository:" + std::string(repository) + (push ? ":pull,push" : ":pull");
}

std::string TokenRequestUrl(const AuthChallenge& challenge,
                            std::string_view scope) {
  std::string url;
  auto realm = challenge.params.find("realm");
  if (realm != challenge.params.end()) url = realm->second;
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  auto service = challenge.params.find("service");
  if (service != challenge.params.end()) {
    url += sep;
    url += "service=" + UrlEscape(service->second);
    sep = '&';
  }
  if (!scope.empty()) {
    url += sep;
    url += "scope=" + UrlEscape(scope);
  }
  return url;
}

Result<std::string> ParseTokenResponse(std::string_view body) {
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Corruption("token response is not a JSON object");
  }
  for (const char* key : {"token", "access_token"}) {
    auto it = j.find(key);
    if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      return it->get<std::string>();
    }
  }
  return Corruption("token response holds no token");
}

}  // namespace syspgo::oci
