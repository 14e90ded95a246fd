// SPDX-License-Identifier: Apache-2.0
// File: node/runtime_image_report.h
//
// An image's runtime image as its registry has it, and what this node's
// trust policy makes of it: for looking at it (`syspgo image inspect`) and
// for fetching it into the node's caches ahead of a start (`syspgo image
// fetch`). A start uses node/image_source.h instead, which fails on a
// runtime image the policy refuses; here a refused one is reported with
// the reason, and never fetched.
#ifndef SYSPGO_NODE_RUNTIME_IMAGE_REPORT_H_
#define SYSPGO_NODE_RUNTIME_IMAGE_REPORT_H_

#include <optional>
#include <string>

#include "common/status.h"
#include "oci/reference.h"
#include "oci/registry_client.h"
#include "rtimage/artifact.h"
#include "rtimage/trust_policy.h"

namespace syspgo::node {

// The policy's verdict on a found runtime image.
struct RuntimeImageTrust {
  bool accepted = false;
  std::string why;     // "signed by NAME (ID)", or why it is not used
  std::string policy;  // the policy entry that decided (TrustDecision::source)
  std::string accept;  // what that entry accepts (AcceptanceName)
  std::string signer;  // the key id, when a trusted key signed it
};

struct RuntimeImageReport {
  oci::ImageReference ref;
  oci::Digest image;                                // the manifest the reference names now
  std::optional<rtimage::FoundRuntimeImage> found;  // nullopt: the image has none
  // When found: its metadata and index (checked against the artifact's
  // digests and bound to the image's digest) and the verdict.
  rtimage::FetchedMetadata fetched;
  Status binding;  // whether it describes this image's layers (rtimage::CheckBinding)
  RuntimeImageTrust trust;
};

// Resolves `ref` with `client` (a client of ref's registry), finds its
// runtime image, fetches its metadata and index, checks that it describes
// this image's layers, and asks `policy` (a signature check where it wants
// one). Errors are the registry's or a runtime image that fails its own
// digests; a binding or signature that fails is a verdict, not an error.
Result<RuntimeImageReport> InspectRuntimeImage(oci::RegistryClient& client,
                                               const oci::ImageReference& ref,
                                               const rtimage::TrustPolicy& policy);

// Fetches the chunks of a reported runtime image the policy accepted into
// the node's chunk store under `store_root` (those already there are not
// fetched again), and keeps its metadata and index beside them
// (fs/cache_layout.h). PermissionDenied, fetching nothing, when it was not
// accepted; NotFound when there was none.
Result<rtimage::ChunkFetchReport> FetchRuntimeImage(oci::RegistryClient& client,
                                                    const RuntimeImageReport& report,
                                                    const std::string& store_root);

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_RUNTIME_IMAGE_REPORT_H_
