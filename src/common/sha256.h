// SPDX-License-Identifier: Apache-2.0
// File: common/sha256.h
//
// Streaming SHA-256 (OpenSSL EVP underneath, which uses the CPU's SHA
// instructions where present). Not thread-safe; one hasher per stream.
#ifndef SYSPGO_COMMON_SHA256_H_
#define SYSPGO_COMMON_SHA256_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace syspgo {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(const void* data, size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  using Bytes = std::array<uint8_t, 32>;
  // The digest of what was fed; the hasher then starts a new stream.
  Bytes Final();
  // Lowercase hex of the digest; the hasher then starts a new stream.
  std::string FinalHex();

  static Bytes Of(std::string_view data);
  static std::string ToHex(const Bytes& digest);

  static std::string HexOf(std::string_view data);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace syspgo

#endif  // SYSPGO_COMMON_SHA256_H_
