// SPDX-License-Identifier: Apache-2.0
#include "node/runtime_image_report.h"

#include "common/file_util.h"
#include "fs/cache_layout.h"
#include "oci/manifest.h"
#include "oci/puller.h"
#include "rtimage/chunk_store.h"
#include "rtimage/format.h"

namespace syspgo::node {

Result<RuntimeImageReport> InspectRuntimeImage(oci::RegistryClient& client,
                                               const oci::ImageReference& ref,
                                               const rtimage::TrustPolicy& policy) {
  RuntimeImageReport r;
  r.ref = ref;
  ASSIGN_OR_RETURN(oci::ResolvedManifest resolved, oci::ResolveImageManifest(client, ref));
  r.image = resolved.descriptor.digest;
  ASSIGN_OR_RETURN(r.found, rtimage::FindRuntimeImage(client, ref.repository, r.image));
  if (!r.found) return r;
  ASSIGN_OR_RETURN(r.fetched,
                   rtimage::FetchRuntimeMetadata(client, ref.repository, *r.found, r.image));
  ASSIGN_OR_RETURN(std::string config,
                   client.FetchSmallBlob(ref.repository, resolved.manifest.config));
  ASSIGN_OR_RETURN(oci::ImageConfig parsed, oci::ParseImageConfig(config));
  r.binding = rtimage::CheckBinding(r.fetched.metadata, resolved.manifest, parsed);
  const rtimage::TrustDecision decision = policy.Decide(ref);
  r.trust.policy = decision.source;
  r.trust.accept = std::string(rtimage::AcceptanceName(decision.accept));
  if (!r.binding.ok()) {
    r.trust.why = r.binding.message();
    return r;
  }
  auto trusted = rtimage::CheckTrust(client, ref.repository, *r.found, r.image, decision);
  if (!trusted.ok()) {
    r.trust.why = trusted.status().message();
    return r;
  }
  r.trust.accepted = true;
  if (*trusted) {
    r.trust.why = "signed by " + (*trusted)->key_name + " (" + (*trusted)->key_id + ")";
    r.trust.signer = (*trusted)->key_id;
  } else {
    r.trust.why = "the policy accepts unsigned runtime images here (signatures not checked)";
  }
  return r;
}

Result<rtimage::ChunkFetchReport> FetchRuntimeImage(oci::RegistryClient& client,
                                                    const RuntimeImageReport& report,
                                                    const std::string& store_root) {
  if (!report.found) return NotFound(report.ref.ToString() + " has no runtime image");
  if (!report.trust.accepted) {
    return PermissionDenied("not fetching the runtime image of " + report.ref.ToString() + ": " +
                            report.trust.why);
  }
  ASSIGN_OR_RETURN(rtimage::ChunkStore chunks,
                   rtimage::ChunkStore::Open(fs::ChunksDir(store_root)));
  ASSIGN_OR_RETURN(rtimage::ChunkFetchReport fetched,
                   rtimage::FetchChunks(client, report.ref.repository, report.found->blob,
                                        report.fetched.metadata, chunks));
  const std::string dir = fs::RuntimeImageCacheDir(store_root, report.found->artifact.hex);
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  for (const auto& [name, bytes] :
       {std::pair{rtimage::kMetadataFile, &report.fetched.metadata_bytes},
        std::pair{rtimage::kIndexFile, &report.fetched.index_bytes}}) {
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, name), *bytes, 0600, false));
  }
  return fetched;
}

}  // namespace syspgo::node
