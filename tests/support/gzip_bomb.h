// SPDX-License-Identifier: Apache-2.0
// File: tests/support/gzip_bomb.h
//
// Small gzip streams that decode to a lot, for the tests of readers that
// must bound what they decode (issue 25's pprof bombs): `n` copies of
// `piece`, compressed as they are made (the plain bytes are never held).
#ifndef SYSPGO_TESTS_SUPPORT_GZIP_BOMB_H_
#define SYSPGO_TESTS_SUPPORT_GZIP_BOMB_H_

#include <algorithm>
#include <span>
#include <string>
#include <string_view>

#include "oci/compression.h"

namespace syspgo::testing {

inline std::string GzipRepeated(std::string_view piece, size_t n) {
  std::string out;
  auto w = oci::NewCompressingWriter(
      oci::Compression::kGzip,
      [&](std::span<const char> c) {
        out.append(c.data(), c.size());
        return Status::Ok();
      },
      9);
  if (!w.ok()) return "";
  const size_t per_block = std::max<size_t>(1, 65536 / piece.size());
  std::string block;
  for (size_t i = 0; i < per_block; ++i) block += piece;
  for (size_t done = 0; done < n; done += per_block) {
    const size_t k = std::min(per_block, n - done);
    if (!(*w)->Write(std::string_view(block).substr(0, k * piece.size())).ok()) return "";
  }
  if (!(*w)->Finish().ok()) return "";
  return out;
}

}  // namespace syspgo::testing

#endif  // SYSPGO_TESTS_SUPPORT_GZIP_BOMB_H_
