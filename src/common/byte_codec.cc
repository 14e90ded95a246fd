// SPDX-License-Identifier: Apache-2.0
#include "common/byte_codec.h"

#include <zlib.h>

namespace syspgo {

uint32_t Crc32(std::string_view data) {
  uLong crc = crc32(0, nullptr, 0);
  // zlib takes uInt lengths: feed large inputs in pieces.
  while (!data.empty()) {
    size_t n = std::min<size_t>(data.size(), 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(n));
    data.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace syspgo
