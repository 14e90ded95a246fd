// SPDX-License-Identifier: Apache-2.0
#include "fs/cache_claim.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/file_lock.h"
#include "common/file_util.h"

namespace syspgo::fs {
namespace {

constexpr char kInUse[] = "in-use";
constexpr size_t kMaxClaimBytes = 64 << 20;

}  // namespace

Result<CacheClaim> CacheClaim::Write(const std::string& cache_root, const std::string& mount,
                                     const std::vector<std::string>& chunk_hexes,
                                     const std::vector<std::string>& layer_hexes) {
  const std::string dir = JoinPath(cache_root, kInUse);
  RETURN_IF_ERROR(MakePrivateDir(dir));
  // Written and locked under a name readers skip, then renamed: a reader
  // never takes a claim being written for a stale one.
  std::string temp = JoinPath(dir, "temp-XXXXXX");
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "create", temp);
  UniqueFd owned = UniqueFd::Adopt(fd);
  const std::string path = JoinPath(dir, "claim-" + temp.substr(temp.size() - 6));
  nlohmann::json j = {{"mount", mount}, {"chunks", chunk_hexes}, {"layers", layer_hexes}};
  Status st =
      ::flock(fd, LOCK_EX | LOCK_NB) == 0 ? Status::Ok() : ErrnoStatus(errno, "flock", temp);
  if (st.ok()) st = WriteAll(fd, std::string_view(j.dump()), temp);
  if (st.ok() && ::rename(temp.c_str(), path.c_str()) != 0) st = ErrnoStatus(errno, "rename", temp);
  if (!st.ok()) {
    ::unlink(temp.c_str());
    return st;
  }
  CacheClaim claim;
  claim.path_ = path;
  claim.fd_ = std::move(owned);
  return claim;
}

CacheClaim& CacheClaim::operator=(CacheClaim&& other) noexcept {
  if (this != &other) {
    Release();
    path_ = std::move(other.path_);
    fd_ = std::move(other.fd_);
    other.path_.clear();
  }
  return *this;
}

void CacheClaim::Release() {
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
  fd_.Reset();
}

LiveCacheUse ReadCacheClaims(const std::string& cache_root) {
  LiveCacheUse use;
  const std::string dir = JoinPath(cache_root, kInUse);
  auto names = ListDir(dir);
  if (!names.ok()) return use;
  for (const std::string& name : *names) {
    if (name.starts_with("temp-")) {
      // A claim whose writer died before it was renamed.
      if (TryLockFile(JoinPath(dir, name), LOCK_SH).taken()) ::unlink(JoinPath(dir, name).c_str());
      continue;
    }
    if (!name.starts_with("claim-")) continue;
    const std::string path = JoinPath(dir, name);
    const TriedLock lock = TryLockFile(path, LOCK_SH);
    if (lock.state == TriedLock::kMissing) continue;  // released meanwhile
    if (lock.taken()) {
      // Nobody holds it: its mount's server is gone.
      ::unlink(path.c_str());
      continue;
    }
    ++use.claims;
    auto text = ReadFileToString(path, kMaxClaimBytes);
    auto j = text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    if (!j.is_object() || !j.contains("chunks") || !j["chunks"].is_array() ||
        !j.contains("layers") || !j["layers"].is_array()) {
      use.unknown = true;
      continue;
    }
    for (const auto& c : j["chunks"]) {
      if (c.is_string()) use.chunks.insert(c.get<std::string>());
    }
    for (const auto& l : j["layers"]) {
      if (l.is_string()) use.layers.insert(l.get<std::string>());
    }
  }
  return use;
}

}  // namespace syspgo::fs
