// SPDX-License-Identifier: Apache-2.0
#include "common/file_lock.h"

#include <fcntl.h>

#include <cerrno>
#include <thread>

namespace syspgo {

TriedLock TryLockFile(const std::string& path, int op) {
  TriedLock out;
  auto fd = UniqueFd::Open(path, O_RDONLY | O_NOFOLLOW);
  if (!fd.ok()) return out;
  if (::flock(fd->get(), op | LOCK_NB) != 0) {
    out.state = TriedLock::kHeld;
    return out;
  }
  out.state = TriedLock::kTaken;
  out.fd = std::move(*fd);
  return out;
}

Result<UniqueFd> WaitForFileLock(const std::string& path, int op, const LockWait& wait) {
  ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(path, O_RDWR | O_CREAT, 0600));
  const auto start = std::chrono::steady_clock::now();
  while (::flock(fd.get(), op | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return ErrnoStatus(errno, "lock", path);
    if (wait.cancel != nullptr && wait.cancel->cancelled()) {
      return Cancelled("waiting for " + wait.waiting_for);
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    if (wait.timeout.count() >= 0 && waited >= wait.timeout) {
      return DeadlineExceeded(
          "waited " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) +
          " ms for " + wait.waiting_for);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return fd;
}

}  // namespace syspgo
