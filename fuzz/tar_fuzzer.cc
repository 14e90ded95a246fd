// SPDX-License-Identifier: Apache-2.0
// The tar reader on arbitrary bytes: every entry and all of its data.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/tar.h"
#include "oci/unpack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  syspgo::StringReader source(std::string_view(reinterpret_cast<const char*>(data), size));
  syspgo::oci::TarReader reader(&source);
  char buf[4096];
  for (int i = 0; i < 10000; ++i) {
    auto entry = reader.Next();
    if (!entry.ok() || !entry->has_value()) break;
    (void)syspgo::oci::SanitizeEntryPath((*entry)->name);
    for (;;) {
      auto n = reader.ReadData(buf);
      if (!n.ok() || *n == 0) break;
    }
  }
  return 0;
}
