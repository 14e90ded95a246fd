// SPDX-License-Identifier: Apache-2.0
#include "node/containers.h"

#include <unistd.h>

#include <map>

#include "common/file_util.h"
#include "common/mount.h"
#include "common/procfs.h"
#include "oci/puller.h"

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

Result<ImageIdentity> ResolveImageIdentity(const oci::ImageReference& ref,
                                           const RegistrySetup& setup) {
  ASSIGN_OR_RETURN(oci::RegistryClient client,
                   oci::RegistryClient::Create(ref.registry, setup.options));
  ASSIGN_OR_RETURN(oci::ResolvedManifest resolved, oci::ResolveImageManifest(client, ref));
  ASSIGN_OR_RETURN(std::string config,
                   client.FetchSmallBlob(ref.repository, resolved.manifest.config));
  ASSIGN_OR_RETURN(oci::ImageConfig parsed, oci::ParseImageConfig(config));
  ImageIdentity id;
  id.manifest = resolved.descriptor.digest;
  id.diff_ids = parsed.diff_ids;
  return id;
}

ImageProcessFollower::ImageProcessFollower(const ImageIdentity& image, Tracker track,
                                           std::chrono::milliseconds every)
    : ImageProcessFollower([image] { return ProcessesOfImage(image); }, std::move(track), every) {}

ImageProcessFollower::ImageProcessFollower(Finder find, Tracker track,
                                           std::chrono::milliseconds every)
    : find_(std::move(find)), track_(std::move(track)), every_(every) {}

size_t ImageProcessFollower::Poll() {
  next_ = std::chrono::steady_clock::now() + every_;
  size_t added = 0;
  for (pid_t pid : find_()) {
    auto start = ProcStartTime(pid);
    const std::pair<pid_t, uint64_t> key{pid, start.ok() ? *start : 0};
    if (tracked_.count(key) || !track_(pid).ok()) continue;
    tracked_.insert(key);
    ++added;
  }
  return added;
}

size_t ImageProcessFollower::PollIfDue() {
  if (std::chrono::steady_clock::now() < next_) return 0;
  return Poll();
}

}  // namespace syspgo::node
