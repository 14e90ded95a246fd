// SPDX-License-Identifier: Apache-2.0
#include "common/mount.h"

#include <sys/mount.h>

#include <cerrno>

#include "common/file_util.h"

namespace syspgo {

Result<Mount> Mount::Create(const std::string& source, const std::string& target,
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

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '3' &&
        field[i + 2] >= '0' && field[i + 2] <= '7' && field[i + 3] >= '0' && field[i + 3] <= '7') {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

bool ParseU32(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 9) return false;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::vector<MountInfo> ParseMountInfo(std::string_view text) {
  std::vector<MountInfo> out;
  for (std::string_view line : SplitLines(text)) {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    const std::vector<std::string_view> f = Split(line, ' ', false);
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() < 6 || dash + 1 >= f.size()) continue;
    const size_t colon = f[2].find(':');
    MountInfo m;
    if (colon == std::string_view::npos || !ParseU32(f[2].substr(0, colon), &m.major) ||
        !ParseU32(f[2].substr(colon + 1), &m.minor)) {
      continue;
    }
    m.root = Unescape(f[3]);
    m.mount_point = Unescape(f[4]);
    m.fstype = Unescape(f[dash + 1]);
    if (dash + 2 < f.size()) m.source = Unescape(f[dash + 2]);
    if (dash + 3 < f.size()) m.super_options = Unescape(f[dash + 3]);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<MountInfo> ReadMountInfo() {
  auto text = ReadFileToString("/proc/self/mountinfo", 64 << 20);
  if (!text.ok()) return {};
  return ParseMountInfo(*text);
}

}  // namespace syspgo
