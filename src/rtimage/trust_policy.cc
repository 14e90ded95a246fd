// SPDX-License-Identifier: Apache-2.0
#include "rtimage/trust_policy.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <set>
#include <thread>

#include "common/file_util.h"

namespace syspgo::rtimage {
namespace {

constexpr size_t kMaxPolicyBytes = 1 << 20;

// "*", "host/repo" or "host/path/*", with its host normalized
// (oci::NormalizeRegistryHost): compared with the reference's
// "registry/repository", normalized the same way, so that no way of
// writing a host selects another rule.
Result<std::string> NormalizeScope(const std::string& scope) {
  if (scope == "*") return scope;
  std::string_view body = scope;
  const bool prefix = body.ends_with("/*");
  if (prefix) body.remove_suffix(2);
  const size_t slash = body.find('/');
  if (body.empty() || body.find('*') != std::string_view::npos || body.front() == '/' ||
      body.back() == '/' || body.find("//") != std::string_view::npos ||
      body.find_first_of(" \t\n@") != std::string_view::npos ||
      (slash == std::string_view::npos && !prefix)) {
    return InvalidArgument("scope '" + scope +
                           "' is not \"*\", \"host/repository\" or \"host/path/*\"");
  }
  auto host = oci::NormalizeRegistryHost(body.substr(0, slash));
  if (!host.ok()) return InvalidArgument("scope '" + scope + "': " + host.status().message());
  std::string out = *host;
  if (slash != std::string_view::npos) out += std::string(body.substr(slash));
  if (prefix) out += "/*";
  return out;
}

}  // namespace

std::string_view AcceptanceName(Acceptance a) {
  switch (a) {
    case Acceptance::kSigned:
      return "signed";
    case Acceptance::kUnsigned:
      return "unsigned";
    case Acceptance::kNone:
      return "none";
  }
  return "?";
}

Result<TrustPolicy> TrustPolicy::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, kMaxPolicyBytes));
  return Parse(text, DirName(path), path);
}

Result<TrustPolicy> TrustPolicy::Parse(std::string_view json, const std::string& base_dir,
                                       std::string name, const KeyLoader& load_key) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("trust policy " + name + ": " + why);
  };
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || version->get<int64_t>() != 1) {
    return bad("\"version\" must be 1");
  }
  auto rules = j.find("rules");
  if (rules == j.end() || !rules->is_array()) return bad("\"rules\" must be an array");
  for (const auto& [key, value] : j.items()) {
    if (key != "version" && key != "rules") return bad("unknown field \"" + key + "\"");
  }
  TrustPolicy policy;
  policy.name_ = name;
  std::set<std::string> scopes;
  for (const auto& r : *rules) {
    if (!r.is_object()) return bad("a rule is not an object");
    Rule rule;
    auto scope = r.find("scope");
    auto accept = r.find("accept");
    if (scope == r.end() || !scope->is_string()) return bad("a rule has no \"scope\" string");
    rule.scope = scope->get<std::string>();
    auto normalized = NormalizeScope(rule.scope);
    if (!normalized.ok()) return bad(normalized.status().message());
    rule.normalized = std::move(*normalized);
    if (!scopes.insert(rule.normalized).second) {
      return bad("scope '" + rule.scope + "' twice (as '" + rule.normalized +
                 "': hosts are compared normalized)");
    }
    if (accept == r.end() || !accept->is_string()) {
      return bad("rule '" + rule.scope + "' has no \"accept\" string");
    }
    const std::string a = accept->get<std::string>();
    if (a == "signed") {
      rule.accept = Acceptance::kSigned;
    } else if (a == "unsigned") {
      rule.accept = Acceptance::kUnsigned;
    } else if (a == "none") {
      rule.accept = Acceptance::kNone;
    } else {
      return bad("rule '" + rule.scope + "': accept must be signed, unsigned or none");
    }
    for (const auto& [key, value] : r.items()) {
      if (key != "scope" && key != "accept" && key != "keys") {
        return bad("rule '" + rule.scope + "': unknown field \"" + key + "\"");
      }
    }
    if (auto keys = r.find("keys"); keys != r.end()) {
      if (!keys->is_array()) return bad("rule '" + rule.scope + "': \"keys\" must be an array");
      for (const auto& k : *keys) {
        if (!k.is_string() || k.get<std::string>().empty()) {
          return bad("rule '" + rule.scope + "': a key is not a file name");
        }
        std::string path = k.get<std::string>();
        if (!path.starts_with("/")) path = JoinPath(base_dir, path);
        auto key = load_key(path);
        if (!key.ok()) return bad(key.status().message());
        rule.keys.push_back(std::move(*key));
      }
    }
    if ((rule.accept == Acceptance::kSigned) == rule.keys.empty()) {
      return bad("rule '" + rule.scope + "': keys go with accept \"signed\", and only with it");
    }
    policy.rules_.push_back(std::move(rule));
  }
  return policy;
}

TrustDecision TrustPolicy::Decide(const oci::ImageReference& ref) const {
  TrustDecision d;
  auto host = oci::NormalizeRegistryHost(ref.registry);
  if (!host.ok()) {
    // A host that cannot be normalized could be an alias of any rule's:
    // refused, whatever the default would be.
    d.accept = Acceptance::kNone;
    d.source = host.status().message();
    return d;
  }
  const std::string repo = *host + "/" + ref.repository;
  const Rule* best = nullptr;
  size_t best_len = 0;  // matched prefix length; exact beats any prefix
  for (const Rule& rule : rules_) {
    if (rule.normalized == repo) {
      best = &rule;
      break;
    }
    if (rule.normalized == "*") {
      if (best == nullptr) best = &rule;
      continue;
    }
    if (rule.normalized.ends_with("/*")) {
      const std::string prefix =
          rule.normalized.substr(0, rule.normalized.size() - 1);  // "host/path/"
      if (repo.starts_with(prefix) && prefix.size() > best_len) {
        best = &rule;
        best_len = prefix.size();
      }
    }
  }
  if (best != nullptr) {
    d.accept = best->accept;
    d.keys = best->keys;
    d.source = "trust policy " + name_ + ", scope '" + best->scope + "'";
    return d;
  }
  if (ref.digest.empty()) {
    d.accept = Acceptance::kUnsigned;
    d.source = "default for a reference by tag";
  } else {
    d.accept = Acceptance::kNone;
    d.source = "default for a reference pinned by digest, with no trust policy rule for " + repo;
  }
  return d;
}

Status NotUsed(const TrustDecision& decision) {
  return PermissionDenied("runtime images are not used for this image (" + decision.source + ")");
}

Result<std::optional<VerifiedSignature>> CheckTrust(oci::RegistryClient& client,
                                                    const std::string& repository,
                                                    const FoundRuntimeImage& found,
                                                    const oci::Digest& image,
                                                    const TrustDecision& decision) {
  switch (decision.accept) {
    case Acceptance::kNone:
      return NotUsed(decision);
    case Acceptance::kUnsigned:
      return std::optional<VerifiedSignature>();
    case Acceptance::kSigned:
      break;
  }
  auto signature = VerifyRuntimeImageSignature(client, repository, found, image, decision.keys);
  if (!signature.ok()) {
    const Status& st = signature.status();
    if (st.code() == StatusCode::kNotFound || st.code() == StatusCode::kPermissionDenied) {
      return PermissionDenied(st.message() + "; " + decision.source +
                              " accepts only runtime images signed by a trusted key");
    }
    return st;
  }
  return std::optional<VerifiedSignature>(*signature);
}

Result<TrustedMetadata> FetchTrustedMetadata(oci::RegistryClient& client,
                                             oci::RegistryClient* second,
                                             const std::string& repository,
                                             const FoundRuntimeImage& found,
                                             const oci::Digest& image,
                                             const TrustDecision& decision, bool with_index) {
  if (decision.accept == Acceptance::kNone) return NotUsed(decision);
  // A signature is checked on the second connection while the metadata
  // comes on the first.
  std::optional<Result<std::optional<VerifiedSignature>>> trusted;
  std::thread checker;
  if (decision.accept == Acceptance::kSigned && second != nullptr) {
    checker =
        std::thread([&] { trusted = CheckTrust(*second, repository, found, image, decision); });
  }
  auto fetched = FetchRuntimeMetadata(client, repository, found, image, with_index);
  if (checker.joinable()) checker.join();
  if (!trusted) trusted = CheckTrust(client, repository, found, image, decision);
  TrustedMetadata out;
  ASSIGN_OR_RETURN(out.signature, std::move(*trusted));
  ASSIGN_OR_RETURN(out.fetched, std::move(fetched));
  return out;
}

WatchedTrustPolicy::Identity WatchedTrustPolicy::IdentityOf(const std::string& path) {
  Identity id;
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return id;
  id.exists = true;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = st.st_size;
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  id.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return id;
}

Result<WatchedTrustPolicy> WatchedTrustPolicy::Open(const std::string& path) {
  WatchedTrustPolicy w;
  w.required_ = !path.empty();
  w.path_ = path.empty() ? std::string(kDefaultTrustPolicyPath) : path;
  w.seen_ = IdentityOf(w.path_);
  if (w.seen_.exists || w.required_) {
    ASSIGN_OR_RETURN(w.policy_, TrustPolicy::Load(w.path_));
  }
  return w;
}

Result<bool> WatchedTrustPolicy::Refresh(bool force) {
  const Identity now = IdentityOf(path_);
  if (!force && now == seen_) return false;
  seen_ = now;
  if (!now.exists) {
    if (required_) {
      return NotFound("trust policy " + path_ + " is gone; the last one loaded stays in force");
    }
    policy_ = TrustPolicy();  // back to the default, as at a start without the file
    return true;
  }
  auto loaded = TrustPolicy::Load(path_);
  if (!loaded.ok()) {
    return loaded.status().WithContext("reloading the trust policy; the last one loaded stays");
  }
  policy_ = std::move(*loaded);
  return true;
}

}  // namespace syspgo::rtimage
