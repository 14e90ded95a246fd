// SPDX-License-Identifier: Apache-2.0
#include "oci/unpack.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <cerrno>
#include <vector>

#include "common/file_util.h"

namespace syspgo::oci {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr const char* kOverlayOpaque = "trusted.overlay.opaque";

std::string ProcFdPath(int fd, const std::string& name) {
  std::string p = "/proc/self/fd/" + std::to_string(fd);
  if (!name.empty()) p += "/" + name;
  return p;
}

// Sets the entry's xattrs with `set` (an fsetxattr or lsetxattr of the new
// node). overlayfs' own (trusted.overlay.*) are never taken from a layer:
// they would change how the stacked layers read (opaque, redirect,
// metacopy), which the layer's whiteouts alone may do.
template <typename SetFn>
Status SetXattrs(const TarEntry& e, SetFn set) {
  for (const auto& [key, value] : e.xattrs) {
    if (IsOverlayPrivateXattr(key)) continue;
    if (set(key.c_str(), value.data(), value.size()) != 0 && errno != ENOTSUP && errno != EPERM) {
      return ErrnoStatus(errno, "setxattr " + key + " on", e.name);
    }
  }
  return Status::Ok();
}

struct timespec MtimeOf(const TarEntry& e) {
  struct timespec ts;
  ts.tv_sec = e.mtime_sec;
  ts.tv_nsec = e.mtime_nsec;
  return ts;
}

}  // namespace

Result<std::string> SanitizeEntryPath(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) {
    return Corruption("tar entry name contains a NUL byte");
  }
  // As containerd, docker and umoci read it: an absolute name is a path
  // inside the root ("/" is the root itself, as umoci writes it), and ".."
  // is resolved lexically. Only a name that climbs above the root is
  // refused.
  std::vector<std::string_view> parts;
  for (std::string_view comp : SplitPath(name)) {
    if (comp != "..") {
      parts.push_back(comp);
    } else if (!parts.empty()) {
      parts.pop_back();
    } else {
      return PermissionDenied("refusing tar entry '" + std::string(name) +
                              "': its '..' climbs above the root");
    }
  }
  std::string out;
  for (std::string_view comp : parts) {
    if (!out.empty()) out += '/';
    out += comp;
  }
  return out;
}

Result<Unpacker> Unpacker::Create(const std::string& root) {
  ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(root, O_PATH | O_DIRECTORY));
  Unpacker u(std::move(fd));
  char real[PATH_MAX];
  if (::realpath(root.c_str(), real) == nullptr) return ErrnoStatus(errno, "realpath", root);
  u.root_real_ = real;
  u.buffer_.resize(1 << 20);
  // The layer root is an implicit directory unless the layer has a "./"
  // entry: 0755, root's, mtime 0 (whatever the umask), as every directory
  // the layer implies (and as the runtime image builder records them).
  if (::chmod(root.c_str(), 0755) != 0) return ErrnoStatus(errno, "chmod", root);
  u.dir_times_[""] = {0, 0};
  return u;
}

Result<UniqueFd> Unpacker::OpenInRoot(const std::string& path, int flags) {
  return syspgo::OpenInRoot(root_.get(), path, flags);
}

Result<std::string> Unpacker::PathInRoot(int fd) const {
  ASSIGN_OR_RETURN(std::string real, FdPath(fd));
  if (real == root_real_) return std::string();
  if (real.rfind(root_real_ + "/", 0) != 0) {
    return Internal("directory " + real + " is outside the layer root");
  }
  return real.substr(root_real_.size() + 1);
}

Result<int> Unpacker::OpenDir(const std::string& path, int depth) {
  if (cache_valid_ && cached_dir_path_ == path) return cached_dir_.get();
  if (depth > 16) return Corruption("too many levels of symlinks creating '" + path + "'");
  auto fd = OpenInRoot(path, O_PATH | O_DIRECTORY);
  if (!fd.ok() && fd.status().errno_value() == ENOENT) {
    // Create the missing directory, its parents first. When the missing
    // piece is a dangling symlink, create what it points to (inside root,
    // resolved as the kernel resolves it: from the symlink's directory, or
    // from the root for an absolute target).
    std::string parent = path.find('/') == std::string::npos ? "" : DirName(path);
    UniqueFd parent_fd;
    {
      ASSIGN_OR_RETURN(int pfd, OpenDir(parent, depth + 1));
      parent_fd = UniqueFd::Adopt(::fcntl(pfd, F_DUPFD_CLOEXEC, 0));
    }
    std::string base = BaseName(path);
    struct stat st;
    if (::fstatat(parent_fd.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = ::readlinkat(parent_fd.get(), base.c_str(), target, sizeof(target) - 1);
      if (n < 0) return ErrnoStatus(errno, "readlink", path);
      std::string t(target, static_cast<size_t>(n));
      ASSIGN_OR_RETURN(std::string real_parent, PathInRoot(parent_fd.get()));
      std::string resolved = t.starts_with("/") ? t : real_parent + "/" + t;
      while (resolved.starts_with("/")) resolved.erase(0, 1);
      ASSIGN_OR_RETURN(int ignored, OpenDir(resolved, depth + 1));
      (void)ignored;
    } else if (::mkdirat(parent_fd.get(), base.c_str(), 0755) == 0) {
      // umask-proof, and recorded as the builder records implied directories.
      if (::fchmodat(parent_fd.get(), base.c_str(), 0755, 0) != 0) {
        return ErrnoStatus(errno, "chmod in layer", path);
      }
      ASSIGN_OR_RETURN(std::string real_parent, PathInRoot(parent_fd.get()));
      dir_times_.try_emplace(real_parent.empty() ? base : real_parent + "/" + base, timespec{0, 0});
      stats_.directories++;
    } else if (errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir in layer", path);
    }
    cache_valid_ = false;
    fd = OpenInRoot(path, O_PATH | O_DIRECTORY);
  }
  if (!fd.ok()) {
    if (fd.status().errno_value() == ENOTDIR) {
      return Corruption("tar entry path '" + path + "' runs through a non-directory");
    }
    return fd.status();
  }
  cached_dir_ = std::move(*fd);
  cached_dir_path_ = path;
  cache_valid_ = true;
  return cached_dir_.get();
}

Status Unpacker::RemoveExisting(int parent, const std::string& name, const struct stat& st) {
  if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) cache_valid_ = false;
  if (S_ISDIR(st.st_mode)) {
    ASSIGN_OR_RETURN(std::string real_parent, PathInRoot(parent));
    const std::string path = real_parent.empty() ? name : real_parent + "/" + name;
    // Its directories' deferred times go with it.
    dir_times_.erase(path);
    const std::string below = path + "/";
    for (auto it = dir_times_.lower_bound(below);
         it != dir_times_.end() && it->first.starts_with(below);) {
      it = dir_times_.erase(it);
    }
  }
  if (S_ISDIR(st.st_mode)) return RemoveTreeAt(parent, name);
  if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink in layer", name);
  }
  return Status::Ok();
}

Status Unpacker::SetMetadataByPath(int parent, const std::string& name, const TarEntry& e,
                                   bool chmod) {
  if (::fchownat(parent, name.c_str(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid),
                 AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus(errno, "chown", e.name);
  }
  // Not for symlinks: their mode is meaningless and chmod would follow them.
  if (chmod && ::fchmodat(parent, name.c_str(), e.mode & 07777, 0) != 0) {
    return ErrnoStatus(errno, "chmod", e.name);
  }
  const std::string p = ProcFdPath(parent, name);
  RETURN_IF_ERROR(SetXattrs(e, [&](const char* key, const char* value, size_t size) {
    return ::lsetxattr(p.c_str(), key, value, size, 0);
  }));
  struct timespec times[2] = {MtimeOf(e), MtimeOf(e)};
  if (::utimensat(parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus(errno, "utimens", e.name);
  }
  return Status::Ok();
}

Status Unpacker::WriteRegular(int parent, const std::string& name, const TarEntry& e,
                              TarReader& reader) {
  ASSIGN_OR_RETURN(UniqueFd fd,
                   UniqueFd::OpenAt(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
  int64_t written = 0;
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, reader.ReadData(buffer_));
    if (n == 0) break;
    RETURN_IF_ERROR(WriteAll(fd.get(), std::span<const char>(buffer_.data(), n), e.name));
    written += static_cast<int64_t>(n);
  }
  if (written != e.size) return Corruption("tar data for '" + e.name + "' is short");
  if (::fchown(fd.get(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid)) != 0) {
    return ErrnoStatus(errno, "chown", e.name);
  }
  if (::fchmod(fd.get(), e.mode) != 0) return ErrnoStatus(errno, "chmod", e.name);
  RETURN_IF_ERROR(SetXattrs(e, [&](const char* key, const char* value, size_t size) {
    return ::fsetxattr(fd.get(), key, value, size, 0);
  }));
  struct timespec times[2] = {MtimeOf(e), MtimeOf(e)};
  if (::futimens(fd.get(), times) != 0) return ErrnoStatus(errno, "utimens", e.name);
  stats_.files++;
  stats_.file_bytes += written;
  return Status::Ok();
}

Status Unpacker::ApplyDirectory(int parent, const std::string& name, const std::string& path,
                                const TarEntry& e, bool exists, bool opaque) {
  if (!exists) {
    if (::mkdirat(parent, name.c_str(), 0700) != 0) {
      return ErrnoStatus(errno, "mkdir in layer", e.name);
    }
    stats_.directories++;
  }
  ASSIGN_OR_RETURN(UniqueFd fd, OpenInRoot(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (::fchown(fd.get(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid)) != 0) {
    return ErrnoStatus(errno, "chown", e.name);
  }
  if (::fchmod(fd.get(), e.mode) != 0) return ErrnoStatus(errno, "chmod", e.name);
  RETURN_IF_ERROR(SetXattrs(e, [&](const char* key, const char* value, size_t size) {
    return ::fsetxattr(fd.get(), key, value, size, 0);
  }));
  if (opaque && ::fsetxattr(fd.get(), kOverlayOpaque, "y", 1, 0) != 0) {
    return ErrnoStatus(errno, "mark opaque", e.name);
  }
  ASSIGN_OR_RETURN(std::string real, PathInRoot(fd.get()));
  dir_times_.insert_or_assign(real, MtimeOf(e));
  return Status::Ok();
}

Status Unpacker::Apply(const TarEntry& e, TarReader& reader) {
  stats_.entries++;
  ASSIGN_OR_RETURN(std::string path, SanitizeEntryPath(e.name));
  if (path.empty()) {
    // The layer root itself ("./"): only its metadata can change.
    if (e.type != TarType::kDirectory) {
      return Corruption("tar entry '" + e.name + "' names the root as a non-directory");
    }
    return ApplyDirectory(root_.get(), ".", "", e, /*exists=*/true, /*opaque=*/false);
  }
  std::string parent_path = path.find('/') == std::string::npos ? "" : DirName(path);
  std::string name = BaseName(path);

  if (std::string_view(name).substr(0, kWhiteoutPrefix.size()) == kWhiteoutPrefix) {
    ASSIGN_OR_RETURN(int parent, OpenDir(parent_path));
    if (name == kOpaqueMarker) {
      std::string p = ProcFdPath(parent, "");
      if (::setxattr(p.c_str(), kOverlayOpaque, "y", 1, 0) != 0) {
        return ErrnoStatus(errno, "mark opaque", parent_path);
      }
      stats_.whiteouts++;
      return Status::Ok();
    }
    if (name.rfind(".wh..wh.", 0) == 0) return Status::Ok();  // aufs metadata
    std::string hidden = name.substr(kWhiteoutPrefix.size());
    if (hidden.empty() || hidden == "." || hidden == "..") {
      return Corruption("invalid whiteout entry '" + e.name + "'");
    }
    struct stat st;
    if (::fstatat(parent, hidden.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      RETURN_IF_ERROR(RemoveExisting(parent, hidden, st));
    }
    if (::mknodat(parent, hidden.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
      return ErrnoStatus(errno, "create whiteout", e.name);
    }
    stats_.whiteouts++;
    return Status::Ok();
  }

  ASSIGN_OR_RETURN(int parent, OpenDir(parent_path));
  struct stat st;
  bool exists = ::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT) return ErrnoStatus(errno, "stat", e.name);
  // A directory made where this layer whited the name out hides what lower
  // layers have there, as overlayfs marks a directory created over a
  // whiteout.
  const bool over_whiteout = exists && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
  if (exists && !(S_ISDIR(st.st_mode) && e.type == TarType::kDirectory)) {
    // A later entry replaces an earlier one of the same name. Keep `parent`
    // valid: removal may invalidate the cache, which owns it.
    UniqueFd keep = UniqueFd::Adopt(::fcntl(parent, F_DUPFD_CLOEXEC, 0));
    RETURN_IF_ERROR(RemoveExisting(keep.get(), name, st));
    ASSIGN_OR_RETURN(parent, OpenDir(parent_path));
    exists = false;
  }

  switch (e.type) {
    case TarType::kRegular:
      return WriteRegular(parent, name, e, reader);
    case TarType::kDirectory:
      return ApplyDirectory(parent, name, path, e, exists, over_whiteout);
    case TarType::kSymlink: {
      if (::symlinkat(e.linkname.c_str(), parent, name.c_str()) != 0) {
        return ErrnoStatus(errno, "symlink", e.name);
      }
      RETURN_IF_ERROR(SetMetadataByPath(parent, name, e, /*chmod=*/false));
      stats_.symlinks++;
      return Status::Ok();
    }
    case TarType::kHardLink: {
      ASSIGN_OR_RETURN(std::string target, SanitizeEntryPath(e.linkname));
      if (target.empty()) {
        return Corruption("hard link '" + e.name + "' points at the root");
      }
      std::string tparent_path = target.find('/') == std::string::npos ? "" : DirName(target);
      ASSIGN_OR_RETURN(UniqueFd tparent, OpenInRoot(tparent_path, O_PATH | O_DIRECTORY));
      std::string tname = BaseName(target);
      if (::linkat(tparent.get(), tname.c_str(), parent, name.c_str(), 0) != 0) {
        if (errno == ENOENT) {
          return Corruption("hard link '" + e.name + "' points at '" + e.linkname +
                            "', which is not in the layer");
        }
        return ErrnoStatus(errno, "link", e.name);
      }
      stats_.hardlinks++;
      return Status::Ok();
    }
    case TarType::kCharDevice:
    case TarType::kBlockDevice:
    case TarType::kFifo: {
      mode_t kind = e.type == TarType::kCharDevice    ? S_IFCHR
                    : e.type == TarType::kBlockDevice ? S_IFBLK
                                                      : S_IFIFO;
      if (::mknodat(parent, name.c_str(), kind | (e.mode & 07777),
                    makedev(e.devmajor, e.devminor)) != 0) {
        return ErrnoStatus(errno, "mknod", e.name);
      }
      RETURN_IF_ERROR(SetMetadataByPath(parent, name, e, /*chmod=*/true));
      stats_.devices++;
      return Status::Ok();
    }
  }
  return Internal("unhandled tar entry type");
}

Status Unpacker::Finish() {
  // After every entry is in place (adding one changes its directory's
  // mtime); the keys are real paths, so no symlink is followed.
  for (const auto& [path, mtime] : dir_times_) {
    auto fd = OpenInRoot(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!fd.ok()) {
      if (fd.status().code() == StatusCode::kNotFound) continue;  // replaced
      return fd.status();
    }
    struct timespec times[2] = {mtime, mtime};
    if (::futimens(fd->get(), times) != 0) {
      return ErrnoStatus(errno, "utimens", path);
    }
  }
  dir_times_.clear();
  return Status::Ok();
}

Status UnpackTarStream(ByteReader* tar_stream, const std::string& root, UnpackStats* stats) {
  ASSIGN_OR_RETURN(Unpacker unpacker, Unpacker::Create(root));
  TarReader reader(tar_stream);
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<TarEntry> entry, reader.Next());
    if (!entry) break;
    RETURN_IF_ERROR(unpacker.Apply(*entry, reader));
  }
  RETURN_IF_ERROR(unpacker.Finish());
  if (stats) *stats = unpacker.stats();
  return Status::Ok();
}

}  // namespace syspgo::oci
