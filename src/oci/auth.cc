// SPDX-License-Identifier: Apache-2.0
#include "oci/auth.h"

#include <poll.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/file_util.h"
#include "common/process.h"
#include "common/unique_fd.h"

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

Result<std::vector<AuthChallenge>> ParseWwwAuthenticate(std::string_view value) {
  std::vector<AuthChallenge> out;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
  };
  auto bad = [&](const std::string& why) {
    return Corruption("malformed WWW-Authenticate header '" + std::string(value) + "': " + why);
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

struct CredentialStore::HelperCache {
  struct Entry {
    std::optional<Credentials> creds;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex mu;
  std::map<std::string, Entry> entries;  // guarded by mu; registry -> answer
};

CredentialStore::CredentialStore() : cache_(std::make_shared<HelperCache>()) {}

Result<CredentialStore> CredentialStore::FromConfigJson(std::string_view json,
                                                        const std::string& origin) {
  auto j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Corruption("credentials file is not a JSON object");
  }
  CredentialStore store;
  store.origin_ = origin;
  if (auto cs = j.find("credsStore"); cs != j.end()) {
    if (!cs->is_string()) return Corruption("credentials: 'credsStore' is not a string");
    store.default_helper_ = cs->get<std::string>();
  }
  if (auto ch = j.find("credHelpers"); ch != j.end()) {
    if (!ch->is_object()) return Corruption("credentials: 'credHelpers' is not an object");
    for (auto it = ch->begin(); it != ch->end(); ++it) {
      if (!it.value().is_string()) {
        return Corruption("credentials: credHelpers entry for " + it.key() + " is not a string");
      }
      store.helpers_[it.key()] = it.value().get<std::string>();
    }
  }
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
        return Corruption("credentials for " + it.key() + ": 'auth' is not base64");
      }
      size_t colon = decoded->find(':');
      if (colon == std::string::npos) {
        return Corruption("credentials for " + it.key() + ": 'auth' is not user:password");
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
    c.source = "the auths entry for " + key + " in " + origin;
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
      CredentialStore empty;
      empty.origin_ = file + " (which does not exist)";
      return empty;
    }
    // A default path under a directory closed to us (HOME=/root for
    // another user): whether the file exists is not ours to know.
    if (!explicit_path && text.status().code() == StatusCode::kPermissionDenied) {
      CredentialStore empty;
      empty.origin_ = file + " (which we may not read)";
      return empty;
    }
    return text.status();
  }
  auto store = FromConfigJson(*text, file);
  if (!store.ok()) return store.status().WithContext(file);
  return store;
}

namespace {

bool IsDockerHub(std::string_view registry) {
  return registry == "docker.io" || registry == "registry-1.docker.io" ||
         registry == "index.docker.io";
}

}  // namespace

std::optional<std::string> CredentialStore::HelperFor(std::string_view registry) const {
  auto it = helpers_.find(std::string(registry));
  if (it == helpers_.end() && IsDockerHub(registry)) {
    for (const char* alias :
         {"index.docker.io", "docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"}) {
      it = helpers_.find(alias);
      if (it != helpers_.end()) break;
    }
  }
  if (it != helpers_.end()) return it->second;
  if (!default_helper_.empty()) return default_helper_;
  return std::nullopt;
}

Result<std::optional<Credentials>> CredentialStore::Lookup(std::string_view registry) const {
  // A helper named for the host wins over an auths entry, as in docker.
  if (auto helper = HelperFor(registry)) {
    const std::string key(registry);
    {
      std::lock_guard<std::mutex> lock(cache_->mu);
      auto it = cache_->entries.find(key);
      if (it != cache_->entries.end() &&
          std::chrono::steady_clock::now() - it->second.at < std::chrono::minutes(5)) {
        if (it->second.creds) return it->second.creds;
        helper.reset();  // the helper has none: the auths entries below
      }
    }
    if (helper) {
      const std::string server = IsDockerHub(registry) ? "https://index.docker.io/v1/" : key;
      auto answer = RunCredentialHelper(*helper, server, helper_path_);
      if (!answer.ok()) {
        return answer.status().WithContext("credentials for " + key + " (" + origin_ + ")");
      }
      std::optional<Credentials> creds = *answer;
      if (creds) {
        creds->source = "credential helper docker-credential-" + *helper + " (" +
                        (helpers_.count(key) ? "credHelpers" : "credsStore") + " in " + origin_ +
                        ")";
      }
      std::lock_guard<std::mutex> lock(cache_->mu);
      cache_->entries[key] = {creds, std::chrono::steady_clock::now()};
      if (creds) return creds;
    }
  }
  auto it = entries_.find(std::string(registry));
  if (it != entries_.end()) return std::optional<Credentials>(it->second);
  if (IsDockerHub(registry)) {
    for (const char* alias : {"index.docker.io", "docker.io", "registry-1.docker.io"}) {
      it = entries_.find(alias);
      if (it != entries_.end()) return std::optional<Credentials>(it->second);
    }
  }
  return std::optional<Credentials>();
}

std::string CredentialStore::Describe(std::string_view registry) const {
  std::string out = "no credentials for " + std::string(registry) + " in " + origin_;
  if (auto helper = HelperFor(registry)) {
    out += " (credential helper docker-credential-" + *helper + " has none for it)";
  }
  return out;
}

Result<std::optional<Credentials>> RunCredentialHelper(const std::string& helper,
                                                       const std::string& server,
                                                       const std::string& search_path) {
  for (char c : helper) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return InvalidArgument("credential helper name '" + helper + "' is not a plain name");
    }
  }
  std::string program = "docker-credential-" + helper;
  if (!search_path.empty()) {
    for (std::string_view dir : Split(search_path, ':', false)) {
      const std::string candidate = JoinPath(dir, program);
      if (::access(candidate.c_str(), X_OK) == 0) {
        program = candidate;
        break;
      }
    }
  }
  ASSIGN_OR_RETURN(Pipe in, Pipe::Create());
  ASSIGN_OR_RETURN(Pipe out, Pipe::Create());
  ASSIGN_OR_RETURN(Pipe err, Pipe::Create());
  // The server name goes into the pipe before the helper starts: it fits
  // the pipe's buffer, and a helper that exits without reading it cannot
  // make this write raise SIGPIPE in us.
  RETURN_IF_ERROR(
      WriteAll(in.write_end.get(), std::string_view(server), "credential helper stdin"));
  in.write_end.Reset();
  SpawnOptions options;
  options.stdin_fd = in.read_end.get();
  options.stdout_fd = out.write_end.get();
  options.stderr_fd = err.write_end.get();
  options.die_with_parent = true;
  auto spawned = Subprocess::Spawn({program, "get"}, options);
  if (!spawned.ok()) {
    return spawned.status().WithContext("run credential helper " + program);
  }
  Subprocess child = std::move(*spawned);
  in.read_end.Reset();
  out.write_end.Reset();
  err.write_end.Reset();
  auto read_all = [](int fd, std::chrono::steady_clock::time_point deadline) {
    std::string text;
    char buf[4096];
    while (text.size() < (1u << 20)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      struct pollfd p = {fd, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    return text;
  };
  // A helper that hangs (a locked keychain asking for a password) costs
  // 30 s, then is killed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const std::string stdout_text = read_all(out.read_end.get(), deadline);
  const std::string stderr_text = read_all(err.read_end.get(), deadline);
  ASSIGN_OR_RETURN(ExitInfo exit, child.WaitFor(std::chrono::seconds(1)));
  std::string said = stdout_text + stderr_text;
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  if (!exit.success()) {
    // The helpers' shared wording for "nothing stored for this server".
    if (said.find("credentials not found") != std::string::npos) {
      return std::optional<Credentials>();
    }
    return Unavailable(program + " get " + server + " failed (" + exit.ToString() + ")" +
                       (said.empty() ? "" : ": " + said.substr(0, 500)));
  }
  auto j = nlohmann::json::parse(stdout_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Corruption(program + " get " + server + " did not answer a JSON object");
  }
  Credentials c;
  if (auto u = j.find("Username"); u != j.end() && u->is_string())
    c.username = u->get<std::string>();
  if (auto p = j.find("Secret"); p != j.end() && p->is_string()) c.password = p->get<std::string>();
  if (c.username == "<token>") c.username.clear();  // an identity token
  if (c.empty()) return std::optional<Credentials>();
  return std::optional<Credentials>(std::move(c));
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

std::map<std::string, std::string> TokenCache::ForScope(std::string_view scope) const {
  std::map<std::string, std::string> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, token] : tokens_) {
    const size_t space = key.find(' ');
    if (space != std::string::npos && std::string_view(key).substr(space + 1) == scope) {
      out.emplace(key, token);
    }
  }
  return out;
}

std::string RepositoryScope(std::string_view repository, bool push) {
  return "repository:" + std::string(repository) + (push ? ":pull,push" : ":pull");
}

std::string TokenRequestUrl(const AuthChallenge& challenge, std::string_view scope) {
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
