// SPDX-License-Identifier: Apache-2.0
// File: rtimage/signature.h
//
// Signed runtime images (docs/runtime-image.md, "Trust"). The metadata of a
// runtime image (the file tree, every file's digests) comes from whoever
// built it, so a node takes it only from a signer it trusts, or where its
// trust policy (trust_policy.h) accepts unsigned ones.
//
// The scheme is cosign's, so that cosign can read what we write (and we
// what it writes, for Ed25519 and ECDSA P-256 keys):
//   - the signed payload is a "simple signing" JSON document naming the
//     runtime image's artifact manifest (critical.image.docker-manifest-
//     digest); its `optional` claims add the metadata's digest and the
//     image's (kClaimMetadata, kClaimSubject);
//   - it is stored as a layer (kSimpleSigningMediaType) of an OCI manifest
//     tagged "sha256-<artifact hex>.sig" in the same repository, with the
//     base64 signature in the layer annotation kCosignSignatureAnnotation;
//     more signatures are more layers.
// A node accepts a runtime image when one of its signatures verifies with
// a trusted key and its claims name this artifact, this metadata (or the
// artifact manifest, fetched by digest, does) and this image.
//
//   ASSIGN_OR_RETURN(SigningKey key, SigningKey::Load("ci.key"));
//   RETURN_IF_ERROR(SignRuntimeImage(client, repo, pushed, key));
//   ASSIGN_OR_RETURN(VerifiedSignature s,
//                    VerifyRuntimeImageSignature(client, repo, found, image, keys));
#ifndef SYSPGO_RTIMAGE_SIGNATURE_H_
#define SYSPGO_RTIMAGE_SIGNATURE_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "oci/manifest.h"
#include "oci/registry_client.h"
#include "rtimage/artifact.h"

namespace syspgo::rtimage {

inline constexpr std::string_view kSimpleSigningMediaType =
    "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr std::string_view kCosignSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr std::string_view kCosignSignatureType = "cosign container image signature";
// Claims of ours in the payload's `optional` object.
inline constexpr std::string_view kClaimMetadata = "io.syspgo.runtime-image.metadata";
inline constexpr std::string_view kClaimSubject = "io.syspgo.runtime-image.subject";

// A key as OpenSSL holds it (Ed25519 or ECDSA P-256).
struct KeyHandle;
struct KeyHandleDeleter {
  void operator()(KeyHandle* key) const;
};
using KeyPtr = std::unique_ptr<KeyHandle, KeyHandleDeleter>;

// A private key to sign with: PEM (PKCS#8 "PRIVATE KEY", as `openssl
// genpkey -algorithm ed25519` writes it), Ed25519 or ECDSA P-256.
class SigningKey {
 public:
  static Result<SigningKey> Load(const std::string& path);
  static Result<SigningKey> Parse(std::string_view pem, const std::string& name);
  // The signature of payload (Ed25519: 64 bytes; ECDSA: DER over SHA-256).
  Result<std::string> Sign(std::string_view payload) const;
  // "sha256:<hex>" of the public key (DER SubjectPublicKeyInfo).
  const std::string& id() const { return id_; }
  // The public key, PEM.
  const std::string& public_pem() const { return public_pem_; }

 private:
  KeyPtr key_;
  std::string id_;
  std::string public_pem_;
};

// A public key a node trusts: PEM ("PUBLIC KEY"), Ed25519 or ECDSA P-256.
class PublicKey {
 public:
  static Result<PublicKey> Load(const std::string& path);
  static Result<PublicKey> Parse(std::string_view pem, std::string name);
  bool Verify(std::string_view payload, std::string_view signature) const;
  const std::string& id() const { return id_; }      // as SigningKey::id
  const std::string& name() const { return name_; }  // where it came from

 private:
  std::shared_ptr<KeyHandle> key_;
  std::string id_;
  std::string name_;
};

// The simple signing payload.
struct SignaturePayload {
  std::string docker_reference;                 // "registry/repository"
  oci::Digest manifest;                         // the signed manifest (the artifact's)
  std::map<std::string, std::string> optional;  // claims
};
std::string EncodeSignaturePayload(const SignaturePayload& payload);
// Checks the shape and the type; kCorruption otherwise.
Result<SignaturePayload> ParseSignaturePayload(std::string_view json);

// The tag cosign keeps an artifact's signatures under.
std::string SignatureTag(const oci::Digest& artifact);

// What SignRuntimeImage signs: a pushed runtime image.
struct SignedArtifact {
  std::string docker_reference;  // "registry/repository"
  oci::Digest artifact;          // the runtime image's artifact manifest
  oci::Digest metadata;          // its metadata layer
  oci::Digest image;             // the image it was built for
};

// Adds a signature of `what` by `key` to the artifact's signature manifest
// (creating it; a signature already there is not added twice).
Status SignRuntimeImage(oci::RegistryClient& client, const std::string& repository,
                        const SignedArtifact& what, const SigningKey& key);

struct VerifiedSignature {
  std::string key_id;
  std::string key_name;
};

// Checks that the runtime image `found` (of the image `image`) carries a
// signature by one of `keys` whose claims name it. kNotFound when it has
// no signature at all; kPermissionDenied when none of its signatures is by
// a trusted key with matching claims (the message says why, per
// signature). A signature without our metadata claim (`cosign sign` of the
// artifact) is accepted when the artifact manifest, fetched by its digest,
// lists `found.metadata`.
Result<VerifiedSignature> VerifyRuntimeImageSignature(oci::RegistryClient& client,
                                                      const std::string& repository,
                                                      const FoundRuntimeImage& found,
                                                      const oci::Digest& image,
                                                      const std::vector<PublicKey>& keys);

}  // namespace syspgo::rtimage

#endif  // SYSPGO_RTIMAGE_SIGNATURE_H_
