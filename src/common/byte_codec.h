// SPDX-License-Identifier: Apache-2.0
// File: common/byte_codec.h
//
// Little-endian encoding for our binary file formats (trace files, runtime
// image metadata, checkpoint indexes). LeEncoder appends fixed-width fields
// and length-prefixed strings; LeDecoder reads them back with a bound check
// on every field, so a hostile or truncated file is an error, never a read
// past its end. Errors name the format (`what`) they were decoding.
#ifndef SYSPGO_COMMON_BYTE_CODEC_H_
#define SYSPGO_COMMON_BYTE_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace syspgo {

class LeEncoder {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Fixed(v, 2); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  void I64(int64_t v) { Fixed(static_cast<uint64_t>(v), 8); }
  // A u32 length, then the bytes.
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  // Bytes without a length (fixed-size fields such as digests).
  void Raw(std::string_view s) { out_.append(s); }
  std::string& out() { return out_; }
  size_t size() const { return out_.size(); }

 private:
  void Fixed(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::string out_;
};

class LeDecoder {
 public:
  // `what` names the format in errors ("trace file"); it must outlive this.
  LeDecoder(std::string_view data, std::string_view what, size_t max_string = size_t{1} << 16)
      : data_(data), what_(what), max_string_(max_string) {}

  Status U8(uint8_t* v) { return Fixed(v, 1); }
  Status U16(uint16_t* v) { return Fixed(v, 2); }
  Status U32(uint32_t* v) { return Fixed(v, 4); }
  Status U64(uint64_t* v) { return Fixed(v, 8); }
  Status I64(int64_t* v) {
    uint64_t u = 0;
    RETURN_IF_ERROR(Fixed(&u, 8));
    *v = static_cast<int64_t>(u);
    return Status::Ok();
  }
  Status Str(std::string* s) {
    uint32_t n = 0;
    RETURN_IF_ERROR(U32(&n));
    if (n > max_string_ || n > data_.size()) {
      return Bad("string length " + std::to_string(n) + " out of bounds");
    }
    s->assign(data_.substr(0, n));
    data_.remove_prefix(n);
    return Status::Ok();
  }
  Status Raw(size_t n, std::string* s) {
    if (n > data_.size()) return Truncated();
    s->assign(data_.substr(0, n));
    data_.remove_prefix(n);
    return Status::Ok();
  }
  // A count of items that each take at least min_item_bytes: a count larger
  // than the rest of the input can hold is corrupt (stops huge allocations).
  Status Count(uint32_t* n, size_t min_item_bytes, std::string_view item) {
    RETURN_IF_ERROR(U32(n));
    if (min_item_bytes > 0 && *n > data_.size() / min_item_bytes) {
      return Bad(std::string(item) + " count " + std::to_string(*n) + " out of bounds");
    }
    return Status::Ok();
  }
  size_t left() const { return data_.size(); }
  // A kCorruption status naming the format.
  Status Bad(const std::string& message) const {
    return Corruption(std::string(what_) + ": " + message);
  }

 private:
  template <typename T>
  Status Fixed(T* v, int bytes) {
    if (data_.size() < static_cast<size_t>(bytes)) return Truncated();
    uint64_t acc = 0;
    for (int i = 0; i < bytes; ++i) {
      acc |= uint64_t{static_cast<uint8_t>(data_[i])} << (8 * i);
    }
    *v = static_cast<T>(acc);
    data_.remove_prefix(bytes);
    return Status::Ok();
  }
  Status Truncated() const { return Bad("truncated"); }

  std::string_view data_;
  std::string_view what_;
  size_t max_string_;
};

// CRC-32 (zlib's polynomial) of data; the checksum our file formats end with.
uint32_t Crc32(std::string_view data);

// Our binary files are framed alike: an 8-byte magic, a u32 version, the
// body, and the CRC-32 of everything before it.
struct FileFrame {
  std::string_view magic;    // 8 bytes
  uint32_t version = 0;      // what BeginFrame writes; the newest OpenFrame reads
  std::string_view what;     // names the format in errors; static storage
  uint32_t min_version = 0;  // the oldest OpenFrame reads (0: only `version`)
};
// An encoder that has written the frame's magic and version.
LeEncoder BeginFrame(const FileFrame& frame);
// Appends the CRC-32 and returns the file's bytes.
std::string EndFrame(LeEncoder& encoder);
// Checks magic, checksum and version; the decoder reads the body (without
// the CRC). A version outside [frame.min_version, frame.version] is
// kUnimplemented; `version`, when given, receives the file's.
Result<LeDecoder> OpenFrame(std::string_view data, const FileFrame& frame,
                            uint32_t* version = nullptr);

}  // namespace syspgo

#endif  // SYSPGO_COMMON_BYTE_CODEC_H_
