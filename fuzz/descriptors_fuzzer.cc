// SPDX-License-Identifier: Apache-2.0
// The runtime image's layers annotation as a registry sends it (in the
// referrers index, written by whoever pushed): a JSON array of
// descriptors. What parses must serialize and parse to the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "oci/manifest.h"

using namespace syspgo::oci;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = ParseDescriptors(std::string_view(reinterpret_cast<const char*>(data), size));
  if (parsed.ok()) {
    auto again = ParseDescriptors(SerializeDescriptors(*parsed));
    if (!again.ok() || again->size() != parsed->size()) __builtin_trap();
    for (size_t i = 0; i < parsed->size(); ++i) {
      if ((*again)[i].digest != (*parsed)[i].digest || (*again)[i].size != (*parsed)[i].size ||
          (*again)[i].media_type != (*parsed)[i].media_type) {
        __builtin_trap();
      }
    }
  }
  return 0;
}

std::vector<std::string> BuiltInSeeds() {
  const std::string d = "sha256:" + std::string(64, 'a');
  return {
      R"([{"mediaType":"application/vnd.syspgo.runtime-image.metadata.v1+zstd","digest":")" + d +
          R"(","size":1234},{"mediaType":"application/vnd.syspgo.runtime-image.blob.v1","digest":")" +
          d + R"(","size":0,"annotations":{"a":"b"}}])",
      "[]"};
}
