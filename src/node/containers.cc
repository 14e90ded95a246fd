// SPDX-License-Identifier: Apache-2.0
#include "node/containers.h"

#include <unistd.h>

#include <map>

#include "common/file_util.h"
#include "common/mount.h"
#include "common/procfs.h"

namespace syspgo::node {
namespace {

// Whether `options` names `dir` as a whole path component sequence.
bool Names(const std::string& options, const std::string& dir) {
  size_t at = 0;
  while ((at = options.find(dir, at)) != std::string::npos) {
    const size_t end = at + dir.size();
    if (end == options.size() || options[end] == '/' || options[end] == ',' || options[end] == ':')
      return true;
    at = end;
  }
  return false;
}

}  // namespace

bool RootIsOfImage(const std::string& super_options, const std::string& source,
                   const ImageIdentity& image) {
  const std::string all = super_options + "," + source;
  if (Names(all, "/shared/" + image.manifest.hex + "/mnt")) return true;
  if (image.diff_ids.empty()) return false;
  // Unpacked layers: every one of the image's, in the lower directories.
  for (const oci::Digest& d : image.diff_ids) {
    if (!Names(all, "/layers/" + d.algorithm + "/" + d.hex + "/fs")) return false;
  }
  return true;
}

std::vector<pid_t> ProcessesOfImage(const ImageIdentity& image) {
  std::vector<pid_t> out;
  std::map<std::string, bool> by_namespace;  // mount namespace -> is the image's
  const pid_t self = ::getpid();
  for (pid_t pid : ListProcesses()) {
    if (pid == self) continue;
    const std::string base = "/proc/" + std::to_string(pid);
    char ns[64];
    const ssize_t n = ::readlink((base + "/ns/mnt").c_str(), ns, sizeof(ns) - 1);
    if (n <= 0) continue;  // gone, or a kernel thread
    auto [it, added] = by_namespace.emplace(std::string(ns, static_cast<size_t>(n)), false);
    if (added) {
      auto text = ReadFileToString(base + "/mountinfo", 64 << 20);
      if (!text.ok()) {
        by_namespace.erase(it);
        continue;
      }
      for (const MountInfo& m : ParseMountInfo(*text)) {
        if (m.mount_point == "/") it->second = RootIsOfImage(m.super_options, m.source, image);
      }
    }
    if (it->second) out.push_back(pid);
  }
  return out;
}

}  // namespace syspgo::node
