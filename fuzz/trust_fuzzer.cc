// SPDX-License-Identifier: Apache-2.0
// The formats of trust: a signature payload (fetched from the registry,
// parsed after its signature verified, but the parser must not care) and a
// trust policy file. Key files named by the policy are not read: every
// path loads one fixed key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rtimage/signature.h"
#include "rtimage/trust_policy.h"

using namespace syspgo::rtimage;

namespace {

// An Ed25519 public key (RFC 8032 test vector 1).
constexpr char kKey[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto payload = ParseSignaturePayload(input);
  if (payload.ok()) {
    auto again = ParseSignaturePayload(EncodeSignaturePayload(*payload));
    if (!again.ok() || again->manifest != payload->manifest ||
        again->optional != payload->optional) {
      __builtin_trap();
    }
  }
  auto policy = TrustPolicy::Parse(input, "/nonexistent", "fuzz", [](const std::string& path) {
    return PublicKey::Parse(kKey, path);
  });
  if (policy.ok()) {
    for (const char* ref :
         {"a.io/b:1",
          "a.io/b/c@sha256:0000000000000000000000000000000000000000000000000000000000000000",
          "127.0.0.1:5000/x:y"}) {
      auto d = policy->Decide(*syspgo::oci::ImageReference::Parse(ref));
      if (d.accept == Acceptance::kSigned && d.keys.empty()) __builtin_trap();
    }
  }
  return 0;
}

std::vector<std::string> BuiltInSeeds() {
  SignaturePayload p;
  p.docker_reference = "a.io/b";
  p.manifest = syspgo::oci::Digest::Of("x");
  p.optional["io.syspgo.runtime-image.metadata"] = syspgo::oci::Digest::Of("m").ToString();
  return {EncodeSignaturePayload(p),
          R"({"version": 1, "rules": [{"scope": "a.io/*", "accept": "signed", "keys": ["k.pub"]},
              {"scope": "*", "accept": "none"}, {"scope": "a.io/b", "accept": "unsigned"}]})"};
}
