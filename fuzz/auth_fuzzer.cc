// SPDX-License-Identifier: Apache-2.0
// WWW-Authenticate headers, token responses and docker config.json files.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto challenges = syspgo::oci::ParseWwwAuthenticate(text);
  if (challenges.ok()) {
    for (const auto& c : *challenges) (void)syspgo::oci::TokenRequestUrl(c, "repository:a:pull");
  }
  (void)syspgo::oci::ParseTokenResponse(text);
  auto store = syspgo::oci::CredentialStore::FromConfigJson(text);
  if (store.ok()) (void)store->Lookup("docker.io");
  return 0;
}
