// SPDX-License-Identifier: Apache-2.0
#include "rtimage/signature.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/file_util.h"
#include "common/sha256.h"

namespace syspgo::rtimage {

struct KeyHandle {
  EVP_PKEY* pkey = nullptr;
  bool ed25519 = false;  // else ECDSA P-256 (SHA-256)
};

void KeyHandleDeleter::operator()(KeyHandle* key) const {
  if (key == nullptr) return;
  EVP_PKEY_free(key->pkey);
  delete key;
}

namespace {

constexpr size_t kMaxPayloadBytes = 64 << 10;
// Signatures checked per artifact, at most (each costs a request).
constexpr int kMaxSignatures = 16;

// OpenSSL's error queue, as text, emptied.
std::string OpenSslError() {
  std::string out;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// Refuses to prompt for a pass phrase: encrypted keys are not supported.
int NoPassword(char*, int, int, void*) { return -1; }

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// Ed25519 or ECDSA on P-256, or an error naming the key.
Result<KeyPtr> Adopt(EVP_PKEY* pkey, const std::string& name) {
  KeyPtr key(new KeyHandle);
  key->pkey = pkey;
  const int type = EVP_PKEY_get_base_id(pkey);
  if (type == EVP_PKEY_ED25519) {
    key->ed25519 = true;
    return key;
  }
  if (type == EVP_PKEY_EC) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) == 1 &&
        std::string_view(group, len) == "prime256v1") {
      return key;
    }
  }
  return InvalidArgument("key " + name + " is neither Ed25519 nor ECDSA P-256");
}

Result<std::string> KeyId(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey, &der);
  if (len <= 0) return Internal("encoding a public key: " + OpenSslError());
  std::string out = "sha256:" + Sha256::HexOf(std::string_view(reinterpret_cast<char*>(der),
                                                               static_cast<size_t>(len)));
  OPENSSL_free(der);
  return out;
}

BioPtr MemoryBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

// ---- keys

Result<SigningKey> SigningKey::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadFileToString(path, 1 << 20));
  return Parse(pem, path);
}

Result<SigningKey> SigningKey::Parse(std::string_view pem, const std::string& name) {
  BioPtr bio = MemoryBio(pem);
  EVP_PKEY* pkey = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr) : nullptr;
  if (pkey == nullptr) {
    return InvalidArgument("signing key " + name + " is not an unencrypted PEM private key (" +
                           OpenSslError() + ")");
  }
  SigningKey key;
  ASSIGN_OR_RETURN(key.key_, Adopt(pkey, name));
  ASSIGN_OR_RETURN(key.id_, KeyId(pkey));
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), pkey) != 1) {
    return Internal("writing a public key: " + OpenSslError());
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  key.public_pem_.assign(data, static_cast<size_t>(len));
  return key;
}

Result<std::string> SigningKey::Sign(std::string_view payload) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = key_->ed25519 ? nullptr : EVP_sha256();
  size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(payload.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_->pkey) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, payload.size()) != 1) {
    return Internal("signing: " + OpenSslError());
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     payload.size()) != 1) {
    return Internal("signing: " + OpenSslError());
  }
  sig.resize(len);
  return sig;
}

Result<PublicKey> PublicKey::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadFileToString(path, 1 << 20));
  return Parse(pem, path);
}

Result<PublicKey> PublicKey::Parse(std::string_view pem, std::string name) {
  BioPtr bio = MemoryBio(pem);
  EVP_PKEY* pkey = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassword, nullptr) : nullptr;
  if (pkey == nullptr) {
    return InvalidArgument("public key " + name + " is not a PEM public key (" + OpenSslError() +
                           ")");
  }
  PublicKey key;
  ASSIGN_OR_RETURN(KeyPtr adopted, Adopt(pkey, name));
  ASSIGN_OR_RETURN(key.id_, KeyId(pkey));
  key.key_ = std::shared_ptr<KeyHandle>(adopted.release(), KeyHandleDeleter());
  key.name_ = std::move(name);
  return key;
}

bool PublicKey::Verify(std::string_view payload, std::string_view signature) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = key_->ed25519 ? nullptr : EVP_sha256();
  const bool ok =
      ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key_->pkey) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(payload.data()),
                       payload.size()) == 1;
  ERR_clear_error();  // a failed verification leaves its reason queued
  return ok;
}

// ---- payload

std::string EncodeSignaturePayload(const SignaturePayload& p) {
  nlohmann::json optional = nlohmann::json::object();
  for (const auto& [k, v] : p.optional) optional[k] = v;
  nlohmann::json j = {{"critical",
                       {{"identity", {{"docker-reference", p.docker_reference}}},
                        {"image", {{"docker-manifest-digest", p.manifest.ToString()}}},
                        {"type", std::string(kCosignSignatureType)}}},
                      {"optional", optional}};
  return j.dump();
}

Result<SignaturePayload> ParseSignaturePayload(std::string_view json) {
  auto bad = [](const std::string& why) { return Corruption("signature payload: " + why); };
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto critical = j.find("critical");
  if (critical == j.end() || !critical->is_object()) return bad("no critical object");
  auto type = critical->find("type");
  if (type == critical->end() || !type->is_string() ||
      type->get<std::string>() != kCosignSignatureType) {
    return bad("its type is not \"" + std::string(kCosignSignatureType) + "\"");
  }
  SignaturePayload p;
  auto image = critical->find("image");
  if (image == critical->end() || !image->is_object()) return bad("no critical.image");
  auto digest = image->find("docker-manifest-digest");
  if (digest == image->end() || !digest->is_string()) {
    return bad("no critical.image.docker-manifest-digest");
  }
  auto parsed = oci::Digest::Parse(digest->get<std::string>());
  if (!parsed.ok()) return bad(parsed.status().message());
  p.manifest = *parsed;
  if (auto identity = critical->find("identity");
      identity != critical->end() && identity->is_object()) {
    if (auto ref = identity->find("docker-reference"); ref != identity->end() && ref->is_string()) {
      p.docker_reference = ref->get<std::string>();
    }
  }
  if (auto optional = j.find("optional"); optional != j.end() && optional->is_object()) {
    for (const auto& [k, v] : optional->items()) {
      if (v.is_string()) p.optional[k] = v.get<std::string>();
    }
  }
  return p;
}

std::string SignatureTag(const oci::Digest& artifact) {
  return artifact.algorithm + "-" + artifact.hex + ".sig";
}

// ---- registry

Status SignRuntimeImage(oci::RegistryClient& client, const std::string& repository,
                        const SignedArtifact& what, const SigningKey& key) {
  SignaturePayload p;
  p.docker_reference = what.docker_reference;
  p.manifest = what.artifact;
  p.optional[std::string(kClaimMetadata)] = what.metadata.ToString();
  p.optional[std::string(kClaimSubject)] = what.image.ToString();
  const std::string payload = EncodeSignaturePayload(p);
  ASSIGN_OR_RETURN(std::string sig, key.Sign(payload));
  oci::Descriptor layer;
  layer.media_type = std::string(kSimpleSigningMediaType);
  layer.digest = oci::Digest::Of(payload);
  layer.size = static_cast<int64_t>(payload.size());
  layer.annotations[std::string(kCosignSignatureAnnotation)] = Base64Encode(sig);

  const std::string tag = SignatureTag(what.artifact);
  oci::ImageManifest manifest;
  auto existing = client.GetManifest(repository, tag);
  if (existing.ok()) {
    ASSIGN_OR_RETURN(manifest, oci::ParseImageManifest(existing->body));
  } else if (existing.status().code() != StatusCode::kNotFound) {
    return existing.status();
  }
  for (const oci::Descriptor& d : manifest.layers) {
    if (d.digest == layer.digest && d.annotations == layer.annotations) return Status::Ok();
  }
  manifest.media_type = std::string(oci::media_type::kOciManifest);
  manifest.layers.push_back(layer);
  // The config cosign writes: an empty image whose layers are the payloads.
  nlohmann::json diff_ids = nlohmann::json::array();
  for (const oci::Descriptor& d : manifest.layers) diff_ids.push_back(d.digest.ToString());
  const std::string config =
      nlohmann::json({{"architecture", ""},
                      {"config", nlohmann::json::object()},
                      {"created", "0001-01-01T00:00:00Z"},
                      {"history", {{{"created", "0001-01-01T00:00:00Z"}}}},
                      {"os", ""},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}})
          .dump();
  manifest.config.media_type = std::string(oci::media_type::kOciConfig);
  manifest.config.digest = oci::Digest::Of(config);
  manifest.config.size = static_cast<int64_t>(config.size());
  RETURN_IF_ERROR(client.PushBlob(repository, layer.digest, payload));
  RETURN_IF_ERROR(client.PushBlob(repository, manifest.config.digest, config));
  return client
      .PushManifest(repository, tag, oci::media_type::kOciManifest,
                    oci::SerializeImageManifest(manifest))
      .status();
}

Result<VerifiedSignature> VerifyRuntimeImageSignature(oci::RegistryClient& client,
                                                      const std::string& repository,
                                                      const FoundRuntimeImage& found,
                                                      const oci::Digest& image,
                                                      const std::vector<PublicKey>& keys) {
  const std::string what = "runtime image " + found.artifact.ToString();
  auto fetched = client.GetManifest(repository, SignatureTag(found.artifact));
  if (!fetched.ok() && fetched.status().code() == StatusCode::kNotFound) {
    return NotFound(what + " is not signed");
  }
  RETURN_IF_ERROR(fetched.status());
  ASSIGN_OR_RETURN(oci::ImageManifest signatures, oci::ParseImageManifest(fetched->body));
  // The artifact manifest, for claims the payload does not make itself.
  std::optional<oci::ImageManifest> artifact = found.manifest;
  auto artifact_manifest = [&]() -> Result<const oci::ImageManifest*> {
    if (!artifact) {
      ASSIGN_OR_RETURN(oci::FetchedManifest m,
                       client.GetManifest(repository, found.artifact.ToString()));
      ASSIGN_OR_RETURN(artifact, oci::ParseImageManifest(m.body));
    }
    return &*artifact;
  };
  std::vector<std::string> reasons;
  int n = 0;
  for (const oci::Descriptor& layer : signatures.layers) {
    if (layer.media_type != kSimpleSigningMediaType) continue;
    if (n == kMaxSignatures) {
      reasons.push_back("only the first " + std::to_string(kMaxSignatures) + " were checked");
      break;
    }
    const std::string which = "signature " + std::to_string(++n);
    auto annotation = layer.annotations.find(std::string(kCosignSignatureAnnotation));
    std::optional<std::string> sig;
    if (annotation != layer.annotations.end()) sig = Base64Decode(annotation->second);
    if (!sig) {
      reasons.push_back(which + " has no readable signature");
      continue;
    }
    if (layer.size <= 0 || static_cast<size_t>(layer.size) > kMaxPayloadBytes) {
      reasons.push_back(which + "'s payload is too large");
      continue;
    }
    auto payload = client.FetchSmallBlob(repository, layer);
    if (!payload.ok()) {
      const StatusCode code = payload.status().code();
      if (code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded ||
          code == StatusCode::kCancelled) {
        return payload.status();  // the registry, not the signature
      }
      reasons.push_back(which + ": " + payload.status().message());
      continue;
    }
    const PublicKey* by = nullptr;
    for (const PublicKey& key : keys) {
      if (key.Verify(*payload, *sig)) {
        by = &key;
        break;
      }
    }
    if (by == nullptr) {
      reasons.push_back(which + " is by no trusted key");
      continue;
    }
    auto parsed = ParseSignaturePayload(*payload);
    if (!parsed.ok()) {
      reasons.push_back(which + ": " + parsed.status().message());
      continue;
    }
    if (parsed->manifest != found.artifact) {
      reasons.push_back(which + " signs " + parsed->manifest.ToString());
      continue;
    }
    auto claim = [&](std::string_view name) -> const std::string* {
      auto it = parsed->optional.find(std::string(name));
      return it == parsed->optional.end() ? nullptr : &it->second;
    };
    const std::string* metadata = claim(kClaimMetadata);
    const std::string* subject = claim(kClaimSubject);
    if (metadata && *metadata != found.metadata.digest.ToString()) {
      reasons.push_back(which + " signs metadata " + *metadata);
      continue;
    }
    if (subject && *subject != image.ToString()) {
      reasons.push_back(which + " was made for image " + *subject);
      continue;
    }
    if (!metadata || !subject) {
      // A plain cosign signature of the artifact: the artifact manifest,
      // fetched by its (signed) digest, must list this metadata and name
      // this image.
      ASSIGN_OR_RETURN(const oci::ImageManifest* m, artifact_manifest());
      bool lists = false;
      for (const oci::Descriptor& d : m->layers) lists |= d.digest == found.metadata.digest;
      if (!lists || !m->subject || m->subject->digest != image) {
        reasons.push_back(which + "'s artifact does not list this metadata for this image");
        continue;
      }
    }
    return VerifiedSignature{by->id(), by->name()};
  }
  if (reasons.empty()) reasons.push_back("no signature layers");
  std::string why;
  for (const std::string& r : reasons) why += (why.empty() ? "" : "; ") + r;
  return PermissionDenied(what + " has no valid signature by a trusted key (" + why + ")");
}

}  // namespace syspgo::rtimage
