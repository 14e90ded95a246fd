// SPDX-License-Identifier: Apache-2.0
#include "common/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace syspgo {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) {
    std::abort();  // out of memory: nothing sensible to return
  }
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(const void* data, size_t size) {
  if (size > 0) EVP_DigestUpdate(ctx_->md, data, size);
}

Sha256::Bytes Sha256::Final() {
  Bytes digest{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, digest.data(), &len);
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);  // ready for the next stream
  return digest;
}

std::string Sha256::FinalHex() { return ToHex(Final()); }

std::string Sha256::ToHex(const Bytes& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (uint8_t b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Sha256::Bytes Sha256::Of(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Final();
}

std::string Sha256::HexOf(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.FinalHex();
}

}  // namespace syspgo
