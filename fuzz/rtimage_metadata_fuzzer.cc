// SPDX-License-Identifier: Apache-2.0
// Runtime image metadata as a registry (or a damaged disk) could send it.
// The checksum is recomputed over the input's body so that the fuzzer gets
// past it and exercises the structural checks behind it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/byte_codec.h"
#include "rtimage/format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  (void)syspgo::rtimage::DecodeMetadata(input);
  if (input.size() >= 12) {
    uint32_t crc = syspgo::Crc32(std::string_view(input).substr(0, input.size() - 4));
    for (int i = 0; i < 4; ++i) input[input.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
    auto m = syspgo::rtimage::DecodeMetadata(input);
    if (m.ok()) {
      // What decodes must encode to the same bytes and be searchable.
      if (syspgo::rtimage::EncodeMetadata(*m) != input) __builtin_trap();
      for (const auto& e : m->entries) {
        if (m->Find(e.path) < 0) __builtin_trap();
      }
    }
  }
  return 0;
}
