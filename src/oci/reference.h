// SPDX-License-Identifier: Apache-2.0
// File: oci/reference.h
//
// Image references ("registry/repo:tag@digest") and content digests.
//
//   ASSIGN_OR_RETURN(ImageReference ref, ImageReference::Parse("busybox"));
//   ref.registry == "docker.io", ref.repository == "library/busybox",
//   ref.tag == "latest".
#ifndef SYSPGO_OCI_REFERENCE_H_
#define SYSPGO_OCI_REFERENCE_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace syspgo::oci {

// A "sha256:<64 lowercase hex>" content digest. Only sha256 is supported.
struct Digest {
  std::string algorithm;  // "sha256"
  std::string hex;

  static Result<Digest> Parse(std::string_view text);
  static Digest Sha256Hex(std::string hex) { return {"sha256", std::move(hex)}; }
  static Digest Of(std::string_view content);
  std::string ToString() const { return algorithm + ":" + hex; }
  bool empty() const { return hex.empty(); }
  bool operator==(const Digest&) const = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  auto operator<=>(const Digest&) const = default;
};

struct ImageReference {
  std::string registry;    // as written by the user, "docker.io" by default
  std::string repository;  // "library/busybox"
  std::string tag;         // empty when only a digest is given
  std::string digest;      // "sha256:..." or empty

  static Result<ImageReference> Parse(std::string_view text);
  // The host to contact ("registry-1.docker.io" for docker.io).
  std::string RegistryHost() const;
  // The tag or digest to put in /v2/<name>/manifests/<reference>.
  std::string ManifestReference() const { return digest.empty() ? tag : digest; }
  std::string ToString() const;
};

// Whether a registry host is served over plain HTTP by default: loopback
// only. Other hosts need the user to name them as insecure.
bool IsLoopbackRegistry(std::string_view host);

// The one name of a registry host ("host[:port]") that every way of
// writing it maps to, for comparing hosts where an alias must not escape a
// rule (trust policy scopes; docs/runtime-image.md, "Trust"):
//  - host names lowercased, a trailing dot dropped; Docker Hub's names
//    (docker.io, index.docker.io, registry-1.docker.io) are docker.io;
//  - IPv4 addresses in any form inet_aton takes (127.1, 0x7f.0.0.1,
//    2130706433) written as dotted quads; IPv6 addresses in brackets in
//    their shortest form;
//  - every loopback address (localhost, 127.0.0.0/8, [::1], IPv4-mapped
//    loopback) is "localhost";
//  - the port without leading zeros; the default ports 443 (HTTPS) and 80
//    (HTTP) dropped.
// InvalidArgument when the host is none of these (characters a host name
// cannot have, an empty label, a bad port, non-ASCII): such a host matches
// no rule and must be refused, not defaulted.
Result<std::string> NormalizeRegistryHost(std::string_view host);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_REFERENCE_H_
