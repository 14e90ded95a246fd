// SPDX-License-Identifier: Apache-2.0
// The Content-Range header of a registry's 206 reply: it decides which
// bytes a range fetch believes it got.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "oci/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto start = syspgo::oci::ParseContentRangeStart(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (start && *start < 0) __builtin_trap();
  return 0;
}

std::vector<std::string> BuiltInSeeds() {
  return {"bytes 0-99/100", "bytes 100-199/*", "bytes 5-5/6", "bytes 1-2/3"};
}
