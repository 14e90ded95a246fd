// SPDX-License-Identifier: Apache-2.0
// /proc/self/mountinfo as the parser reads it: a mount point name is
// chosen by whoever mounts (a container, a user's FUSE file system), with
// octal escapes the parser decodes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/mount.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto mounts = syspgo::ParseMountInfo(std::string_view(reinterpret_cast<const char*>(data), size));
  for (const auto& m : mounts) {
    // Decoding escapes only shortens: nothing can come out longer than the input.
    if (m.mount_point.size() > size || m.root.size() > size || m.fstype.size() > size) {
      __builtin_trap();
    }
  }
  return 0;
}

std::vector<std::string> BuiltInSeeds() {
  return {
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
      "1207 25 0:77 / /var/lib/syspgo/mounts/m-1/mnt rw,nosuid,nodev,relatime shared:651 - "
      "fuse.syspgo syspgo rw,user_id=0,group_id=0,default_permissions,allow_other\n",
      "22 1 8:1 / /with\\040space\\011tab rw - xfs /dev/sda1 rw\n",
  };
}
