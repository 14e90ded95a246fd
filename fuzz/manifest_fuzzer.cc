// SPDX-License-Identifier: Apache-2.0
// Manifests, indexes and configs as a registry could send them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (std::string_view type : {std::string_view(), syspgo::oci::media_type::kOciIndex,
                                syspgo::oci::media_type::kDockerManifest}) {
    auto doc = syspgo::oci::ParseManifestDocument(type, body);
    if (doc.ok() && doc->index) {
      (void)syspgo::oci::SelectPlatform(*doc->index, "linux", "amd64");
      (void)syspgo::oci::SerializeImageIndex(*doc->index);
    }
    if (doc.ok() && doc->manifest) (void)syspgo::oci::SerializeImageManifest(*doc->manifest);
  }
  auto config = syspgo::oci::ParseImageConfig(body);
  if (config.ok()) (void)syspgo::oci::SerializeImageConfig(*config);
  return 0;
}
