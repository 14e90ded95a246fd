// SPDX-License-Identifier: Apache-2.0
// Image references and digests as users type them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ref = syspgo::oci::ImageReference::Parse(text);
  if (ref.ok()) {
    // A printed reference parses back to the same thing.
    auto again = syspgo::oci::ImageReference::Parse(ref->ToString());
    if (!again.ok() || again->ToString() != ref->ToString()) __builtin_trap();
  }
  (void)syspgo::oci::Digest::Parse(text);
  (void)syspgo::oci::IsLoopbackRegistry(text);
  return 0;
}
