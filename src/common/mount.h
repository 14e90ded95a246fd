// SPDX-License-Identifier: Apache-2.0
// File: common/mount.h
//
// A mount with an owner: the destructor unmounts it (lazily, if it is busy).
#ifndef SYSPGO_COMMON_MOUNT_H_
#define SYSPGO_COMMON_MOUNT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace syspgo {

class Mount {
 public:
  static Result<Mount> Create(const std::string& source, const std::string& target,
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

// One line of /proc/<pid>/mountinfo (proc(5)), paths with their octal
// escapes (\040 for a space, ...) decoded.
struct MountInfo {
  uint32_t major = 0;
  uint32_t minor = 0;
  std::string root;  // what of the file system is mounted
  std::string mount_point;
  std::string fstype;         // e.g. "ext4", "fuse.syspgo"
  std::string source;         // e.g. "/dev/sda1", "overlay"
  std::string super_options;  // e.g. "rw,lowerdir=...,upperdir=..."
};
// Lines that do not parse are skipped.
std::vector<MountInfo> ParseMountInfo(std::string_view text);
// This process's mount namespace; empty when it cannot be read.
std::vector<MountInfo> ReadMountInfo();

}  // namespace syspgo

#endif  // SYSPGO_COMMON_MOUNT_H_
