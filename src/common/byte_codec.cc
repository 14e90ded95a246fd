// SPDX-License-Identifier: Apache-2.0
#include "common/byte_codec.h"

#include <zlib.h>

#include <algorithm>

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

LeEncoder BeginFrame(const FileFrame& frame) {
  LeEncoder w;
  w.Raw(frame.magic);
  w.U32(frame.version);
  return w;
}

std::string EndFrame(LeEncoder& encoder) {
  encoder.U32(Crc32(encoder.out()));
  return std::move(encoder.out());
}

Result<LeDecoder> OpenFrame(std::string_view data, const FileFrame& frame, uint32_t* version_out) {
  const size_t magic = frame.magic.size();
  if (data.size() < magic + 8 || data.substr(0, magic) != frame.magic) {
    return Corruption("not a syspgo " + std::string(frame.what) + " (bad magic)");
  }
  std::string_view body = data.substr(0, data.size() - 4);
  LeDecoder crc(data.substr(data.size() - 4), frame.what);
  uint32_t stored = 0;
  RETURN_IF_ERROR(crc.U32(&stored));
  if (stored != Crc32(body)) return Corruption(std::string(frame.what) + " checksum mismatch");
  LeDecoder d(body.substr(magic), frame.what);
  uint32_t version = 0;
  RETURN_IF_ERROR(d.U32(&version));
  const uint32_t oldest = frame.min_version ? frame.min_version : frame.version;
  if (version < oldest || version > frame.version) {
    return Unimplemented(std::string(frame.what) + " version " + std::to_string(version) +
                         " is not supported (this build reads " +
                         (oldest == frame.version
                              ? std::to_string(frame.version)
                              : std::to_string(oldest) + "-" + std::to_string(frame.version)) +
                         ")");
  }
  if (version_out) *version_out = version;
  return d;
}

}  // namespace syspgo
