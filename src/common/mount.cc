// SPDX-License-Identifier: Apache-2.0
#include "common/mount.h"

#include <sys/mount.h>

#include <cerrno>

namespace syspgo {

Result<Mount> Mount::Create(const std::string& source,
                            const std::string& target,
                            const std::string& fstype, unsigned long flags,
                            const std::string& data) {
  if (::mount(source.c_str(), target.c_str(), fstype.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) != 0) {
    return ErrnoStatus(errno, "mount " + fstype + " on", target);
  }
  return Mount(target);
}

Status Mount::Unmount() {
  if (target_.empty()) return Status::Ok();
  std::string target = std::exchange(target_, {});
  if (::umount2(target.c_str(), 0) == 0) return Status::Ok();
  if (errno == EBUSY && ::umount2(target.c_str(), MNT_DETACH) == 0) {
    return Status::Ok();
  }
  return ErrnoStatus(errno, "unmount", target);
}

Status UnmountIfMounted(const std::string& target) {
  if (::umount2(target.c_str(), MNT_DETACH) == 0) return Status::Ok();
  if (errno == EINVAL || errno == ENOENT) return Status::Ok();  // not a mount
  return ErrnoStatus(errno, "unmount", target);
}

}  // namespace syspgo
