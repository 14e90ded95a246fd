// SPDX-License-Identifier: Apache-2.0
#include "rtimage/chunk_store.h"

#include <unistd.h>

#include "common/file_util.h"
#include "common/sha256.h"

namespace syspgo::rtimage {

Result<ChunkStore> ChunkStore::Open(const std::string& root) {
  RETURN_IF_ERROR(MakePrivateDir(root));
  return ChunkStore(root);
}

std::string ChunkStore::PathOf(const Sha256Bytes& digest) const {
  std::string hex = Sha256::ToHex(digest);
  return JoinPath(JoinPath(root_, hex.substr(0, 2)), hex);
}

bool ChunkStore::Has(const Sha256Bytes& digest) const {
  return access(PathOf(digest).c_str(), F_OK) == 0;
}

Status ChunkStore::Put(const Sha256Bytes& digest, std::string_view data) {
  if (Sha256::Of(data) != digest) {
    return Corruption("chunk " + DigestString(digest) + " does not match its data");
  }
  return PutVerified(digest, data);
}

Status ChunkStore::PutVerified(const Sha256Bytes& digest, std::string_view data) {
  std::string path = PathOf(digest);
  RETURN_IF_ERROR(MakeDirs(DirName(path), 0700));
  return WriteFileAtomic(path, data, 0600, /*durable=*/false);
}

Result<std::string> ChunkStore::Get(const Chunk& chunk) const {
  std::string path = PathOf(chunk.digest);
  ASSIGN_OR_RETURN(std::string data, ReadFileToString(path, kMaxChunkSpan + 1));
  if (data.size() != chunk.length || Sha256::Of(data) != chunk.digest) {
    unlink(path.c_str());
    return Corruption("stored chunk " + path + " failed verification and was removed");
  }
  return data;
}

}  // namespace syspgo::rtimage
