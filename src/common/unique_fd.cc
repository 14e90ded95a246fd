// SPDX-License-Identifier: Apache-2.0
#include "common/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace syspgo {

void UniqueFd::Reset() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

Result<UniqueFd> UniqueFd::Open(const std::string& path, int flags, mode_t mode) {
  return OpenAt(AT_FDCWD, path, flags, mode);
}

Result<UniqueFd> UniqueFd::OpenAt(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  return UniqueFd(fd);
}

Result<Pipe> Pipe::Create() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  return Pipe{UniqueFd::Adopt(fds[0]), UniqueFd::Adopt(fds[1])};
}

}  // namespace syspgo
