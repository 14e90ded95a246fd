// SPDX-License-Identifier: Apache-2.0
// File: common/unique_fd.h
//
// UniqueFd owns one file descriptor and closes it when destroyed. It is
// move-only; it is made from a raw fd only through Adopt() or the factories,
// which always pass O_CLOEXEC.
#ifndef SYSPGO_COMMON_UNIQUE_FD_H_
#define SYSPGO_COMMON_UNIQUE_FD_H_

#include <sys/types.h>

#include <string>
#include <utility>

#include "common/status.h"

namespace syspgo {

class UniqueFd {
 public:
  UniqueFd() = default;
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  // Takes ownership of fd (which may be -1).
  static UniqueFd Adopt(int fd) { return UniqueFd(fd); }
  // open(2) / openat(2) with O_CLOEXEC added.
  static Result<UniqueFd> Open(const std::string& path, int flags, mode_t mode = 0);
  static Result<UniqueFd> OpenAt(int dirfd, const std::string& path, int flags, mode_t mode = 0);

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset();

 private:
  explicit UniqueFd(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Both ends of a pipe2(O_CLOEXEC).
struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
  static Result<Pipe> Create();
};

}  // namespace syspgo

#endif  // SYSPGO_COMMON_UNIQUE_FD_H_
