// SPDX-License-Identifier: Apache-2.0
// File: common/mount.h
//
// A mount with an owner: the destructor unmounts it (lazily, if it is busy).
#ifndef SYSPGO_COMMON_MOUNT_H_
#define SYSPGO_COMMON_MOUNT_H_

#include <string>
#include <utility>

#include "common/status.h"

namespace syspgo {

class Mount {
 public:
  static Result<Mount> Create(const std::string& source,
                              const std::string& target,
                              const std::string& fstype, unsigned long flags,
                              const std::string& data);
  Mount() = default;
  ~Mount() { Unmount().IgnoreError(); }
  Mount(Mount&& o) noexcept : target_(std::exchange(o.target_, {})) {}
  Mount& operator=(Mount&& o) noexcept {
    if (this != &o) {
      Unmount().IgnoreError();
      target_ = std::exchange(o.target_, {});
    }
    return *this;
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  const std::string& target() const { return target_; }
  // Unmounts now; falls back to a lazy detach when the mount is busy.
  Status Unmount();

 private:
  explicit Mount(std::string target) : target_(std::move(target)) {}
  std::string target_;
};

// Unmounts target if something is mounted there (used to clear stale mounts).
Status UnmountIfMounted(const std::string& target);

}  // namespace syspgo

#endif  // SYSPGO_COMMON_MOUNT_H_
