// SPDX-License-Identifier: Apache-2.0
// File: rtimage/trust_policy.h
//
// Which runtime images a node uses (docs/runtime-image.md, "Trust"). A
// runtime image's metadata decides what every file of the container holds,
// and anyone who can push to a repository can push one, so a node takes it
// only as its policy says, per repository:
//
//   {
//     "version": 1,
//     "rules": [
//       {"scope": "registry.example.com/team/app", "accept": "signed",
//        "keys": ["keys/team.pub"]},
//       {"scope": "registry.example.com/team/*", "accept": "signed",
//        "keys": ["keys/team.pub", "/etc/syspgo/keys/ci.pub"]},
//       {"scope": "127.0.0.1:5000/*", "accept": "unsigned"},
//       {"scope": "*", "accept": "none"}
//     ]
//   }
//
// scope: "*" (every repository), "host/path" (that repository) or
// "host/path/*" (every repository below host/path, "host/*" a whole
// registry); the most specific scope that matches wins (an exact one, else
// the longest prefix, else "*"). Hosts are compared normalized
// (oci::NormalizeRegistryHost: case, loopback aliases such as localhost,
// 127.1 and [::1], other spellings of an IP address, default ports), so no
// spelling of a host selects a weaker rule; a reference whose host cannot
// be normalized uses no runtime image. accept: "signed" (a signature by one of
// `keys`, PEM public keys; relative paths are relative to the policy
// file), "unsigned" (any runtime image; its binding to the image is still
// checked) or "none" (never: the image starts from its layers).
//
// Without a policy, or for a repository no rule matches, the default
// holds: a reference by tag accepts unsigned runtime images (who can push
// one can as well move the tag to an image of their making: the runtime
// image gets the trust the tag has), a reference pinned by digest never
// uses one (the pin says which bytes the user wants; an unsigned runtime
// image is not tied to them by anything the user chose).
#ifndef SYSPGO_RTIMAGE_TRUST_POLICY_H_
#define SYSPGO_RTIMAGE_TRUST_POLICY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "oci/reference.h"
#include "rtimage/signature.h"

namespace syspgo::rtimage {

enum class Acceptance { kSigned, kUnsigned, kNone };
std::string_view AcceptanceName(Acceptance a);

// What the policy says for one image reference.
struct TrustDecision {
  Acceptance accept = Acceptance::kNone;
  std::vector<PublicKey> keys;  // kSigned: the trusted ones
  // Why, for messages: "policy FILE, scope S" or "default: ...".
  std::string source;
};

class TrustPolicy {
 public:
  // The policy file at `path`; keys are loaded (a missing or bad key is an
  // error here, not at the first start).
  static Result<TrustPolicy> Load(const std::string& path);
  // `base_dir`: where relative key paths start; `name` names the policy in
  // messages; `load_key` reads a key file (PublicKey::Load; the fuzz target
  // gives one that reads no file).
  using KeyLoader = std::function<Result<PublicKey>(const std::string& path)>;
  static Result<TrustPolicy> Parse(std::string_view json, const std::string& base_dir,
                                   std::string name, const KeyLoader& load_key = PublicKey::Load);
  // No policy: the default for every repository.
  TrustPolicy() = default;

  TrustDecision Decide(const oci::ImageReference& ref) const;
  bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    std::string scope;       // "*", "host/repo" or "host/path/*", as written
    std::string normalized;  // its host normalized (oci::NormalizeRegistryHost)
    Acceptance accept = Acceptance::kNone;
    std::vector<PublicKey> keys;
  };
  std::string name_;
  std::vector<Rule> rules_;
};

// Why `decision` uses no runtime image (kPermissionDenied, naming the rule).
Status NotUsed(const TrustDecision& decision);

// Whether `decision` accepts the runtime image `found` of the image with
// manifest digest `image`: its signer for kSigned, nullopt for kUnsigned.
// kPermissionDenied, naming the rule, for kNone or without a valid
// signature by one of its keys; other errors are the registry's.
Result<std::optional<VerifiedSignature>> CheckTrust(oci::RegistryClient& client,
                                                    const std::string& repository,
                                                    const FoundRuntimeImage& found,
                                                    const oci::Digest& image,
                                                    const TrustDecision& decision);

struct TrustedMetadata {
  FetchedMetadata fetched;
  std::optional<VerifiedSignature> signature;  // for kSigned: who signed it
};

// The metadata of `found` (of the image with manifest digest `image`) as
// the decision allows: kSigned verifies a signature by one of its keys
// (on `second`, another client of the registry, while the metadata comes
// on `client`; after it without one), kUnsigned takes the runtime image as
// it is, kNone refuses it. Refusals are kPermissionDenied and name the
// rule that refused.
Result<TrustedMetadata> FetchTrustedMetadata(oci::RegistryClient& client,
                                             oci::RegistryClient* second,
                                             const std::string& repository,
                                             const FoundRuntimeImage& found,
                                             const oci::Digest& image,
                                             const TrustDecision& decision, bool with_index);

// The policy file used when none is given, if it exists.
inline constexpr std::string_view kDefaultTrustPolicyPath = "/etc/syspgo/trust-policy.json";

// The trust policy of a daemon that runs for months: its file, reloaded
// when it changes. `path` the operator named (--trust-policy, or the
// config file's trust_policy) must exist at the start; without one the
// default path is used when it exists, else the built-in default, and a
// file that appears there later is taken too. A changed file that does not
// load (bad JSON, a missing key) leaves the last good policy in force and
// is an error for the caller to log; it is tried again when it changes
// again. Not thread-safe: one caller (the daemon's main loop) refreshes.
class WatchedTrustPolicy {
 public:
  static Result<WatchedTrustPolicy> Open(const std::string& path);
  const TrustPolicy& policy() const { return policy_; }
  // The file the policy comes from ("" : the built-in default only).
  const std::string& path() const { return path_; }
  // Reloads when the file changed (or `force`, as on SIGHUP): true when a
  // new policy was loaded; an error when the changed file does not load.
  Result<bool> Refresh(bool force = false);

 private:
  struct Identity {
    bool exists = false;
    uint64_t dev = 0, ino = 0;
    int64_t size = 0, mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Identity&) const = default;
  };
  static Identity IdentityOf(const std::string& path);
  std::string path_;
  bool required_ = false;
  Identity seen_;
  TrustPolicy policy_;
};

}  // namespace syspgo::rtimage

#endif  // SYSPGO_RTIMAGE_TRUST_POLICY_H_
