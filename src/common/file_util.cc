// SPDX-License-Identifier: Apache-2.0
#include "common/file_util.h"

#include <dirent.h>
#include <ftw.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <climits>
#include <cstdlib>
#include <set>

namespace syspgo {

Status WriteAll(int fd, std::span<const char> data, std::string_view what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", what);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view data, std::string_view what) {
  return WriteAll(fd, std::span<const char>(data.data(), data.size()), what);
}

namespace {

// read(2) or, with an offset, pread(2) until buf is full or the end.
Result<size_t> ReadLoop(int fd, std::span<char> buf, const uint64_t* offset,
                        std::string_view what) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = offset == nullptr ? ::read(fd, buf.data() + done, buf.size() - done)
                                  : ::pread(fd, buf.data() + done, buf.size() - done,
                                            static_cast<off_t>(*offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read", what);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace

Result<size_t> ReadFull(int fd, std::span<char> buf, std::string_view what) {
  return ReadLoop(fd, buf, nullptr, what);
}

Result<size_t> ReadFullAt(int fd, std::span<char> buf, uint64_t offset, std::string_view what) {
  return ReadLoop(fd, buf, &offset, what);
}

Result<std::string> ReadToEnd(int fd, size_t max_bytes, std::string_view path) {
  std::string out;
  char buf[65536];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, ReadFull(fd, buf, path));
    out.append(buf, n);
    if (out.size() > max_bytes) {
      return InvalidArgument("read " + std::string(path) + ": larger than " +
                             std::to_string(max_bytes) + " bytes");
    }
    if (n < sizeof(buf)) break;
  }
  return out;
}

Result<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(path, O_RDONLY));
  return ReadToEnd(fd.get(), max_bytes, path);
}

bool IsPlainFileName(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

Result<std::string> ReadFileAt(int dirfd, std::string_view name, size_t max_bytes,
                               std::string_view shown) {
  const std::string path = JoinPath(shown, name);  // for messages only
  if (!IsPlainFileName(name)) return InvalidArgument("read " + path + ": not a plain file name");
  ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::OpenAt(dirfd, std::string(name), O_RDONLY | O_NOFOLLOW));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  if (!S_ISREG(st.st_mode)) return InvalidArgument("read " + path + ": not a regular file");
  return ReadToEnd(fd.get(), max_bytes, path);
}

Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode,
                       bool durable) {
  // A name of its own per call: writers of one path in several threads of
  // a process (or several processes) do not share a temporary file.
  std::string tmp = path + ".tmp.XXXXXX";
  {
    const int raw = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (raw < 0) return ErrnoStatus(errno, "create", tmp);
    UniqueFd fd = UniqueFd::Adopt(raw);
    Status st = Status::Ok();
    if (::fchmod(fd.get(), mode) != 0) st = ErrnoStatus(errno, "chmod", tmp);
    if (st.ok()) st = WriteAll(fd.get(), content, tmp);
    if (st.ok() && durable && ::fsync(fd.get()) != 0) {
      st = ErrnoStatus(errno, "fsync", tmp);
    }
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = ErrnoStatus(errno, "rename to", path);
    ::unlink(tmp.c_str());
    return st;
  }
  return Status::Ok();
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return Status::Ok();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    return ErrnoStatus(ENOTDIR, "mkdir", path);
  }
  std::string parent = DirName(path);
  if (parent != path) RETURN_IF_ERROR(MakeDirs(parent, mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir", path);
  }
  return Status::Ok();
}

namespace {

// Removes every entry of the open directory dirfd (not the directory itself).
// Never follows symlinks; refuses to descend into another mount (dev).
Status EmptyDirectory(int dirfd, dev_t dev, const std::string& shown) {
  int dup_fd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return ErrnoStatus(errno, "dup", shown);
  DIR* dir = ::fdopendir(dup_fd);
  if (dir == nullptr) {
    ::close(dup_fd);
    return ErrnoStatus(errno, "opendir", shown);
  }
  std::vector<std::pair<std::string, bool>> entries;
  errno = 0;
  while (struct dirent* de = ::readdir(dir)) {
    std::string name = de->d_name;
    if (name == "." || name == "..") continue;
    entries.emplace_back(name, de->d_type == DT_DIR || de->d_type == DT_UNKNOWN);
  }
  ::closedir(dir);
  for (const auto& [name, maybe_dir] : entries) {
    std::string child = shown + "/" + name;
    if (maybe_dir) {
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return ErrnoStatus(errno, "stat", child);
      }
      if (S_ISDIR(st.st_mode)) {
        if (st.st_dev != dev) {
          return ErrnoStatus(EXDEV, "remove (a mount point is inside)", child);
        }
        int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return ErrnoStatus(errno, "open", child);
        UniqueFd owned = UniqueFd::Adopt(fd);
        RETURN_IF_ERROR(EmptyDirectory(owned.get(), dev, child));
        if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
          return ErrnoStatus(errno, "rmdir", child);
        }
        continue;
      }
    }
    if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "unlink", child);
    }
  }
  return Status::Ok();
}

}  // namespace

Status RemoveTreeAt(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus(errno, "stat", name);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, "unlink", name);
    }
    return Status::Ok();
  }
  {
    ASSIGN_OR_RETURN(UniqueFd fd,
                     UniqueFd::OpenAt(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    RETURN_IF_ERROR(EmptyDirectory(fd.get(), st.st_dev, name));
  }
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "rmdir", name);
  }
  return Status::Ok();
}

Status RemoveTree(const std::string& path) { return RemoveTreeAt(AT_FDCWD, path); }

DiskUse MeasureDiskUse(const std::string& path) {
  DiskUse use;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return use;
  if (!S_ISDIR(st.st_mode)) return {static_cast<int64_t>(st.st_blocks) * 512, 1};
  // nftw's callback has no user pointer; the walk is one thread's.
  thread_local DiskUse* total;
  thread_local std::set<std::pair<dev_t, ino_t>>* seen;
  std::set<std::pair<dev_t, ino_t>> inodes;
  total = &use;
  seen = &inodes;
  ::nftw(
      path.c_str(),
      [](const char*, const struct stat* s, int, struct FTW*) {
        if (s->st_nlink > 1 && !seen->insert({s->st_dev, s->st_ino}).second) return 0;
        total->bytes += static_cast<int64_t>(s->st_blocks) * 512;
        total->inodes += 1;
        return 0;
      },
      32, FTW_PHYS);
  return use;
}

Status PrepareOutputDir(const std::string& file, std::string_view what) {
  const std::string dir = DirName(file);
  Status made = dir.empty() ? Status::Ok() : MakeDirs(dir, 0755);
  if (made.ok() && ::access(dir.empty() ? "." : dir.c_str(), W_OK) != 0) {
    made = ErrnoStatus(errno, "write in", dir);
  }
  if (!made.ok()) {
    return made.WithContext(std::string(what) + " " + file + ": its directory cannot be used");
  }
  return Status::Ok();
}

Status MakePrivateDir(const std::string& path, bool* tightened) {
  if (tightened) *tightened = false;
  RETURN_IF_ERROR(MakeDirs(path, 0700));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  if ((st.st_mode & 077) == 0) return Status::Ok();
  if (st.st_uid != ::geteuid()) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    return PermissionDenied("refusing to keep private data in " + path + ": it is mode " + mode +
                            " and owned by uid " + std::to_string(st.st_uid) +
                            ", so others may read it (chmod 0700 it, or choose another)");
  }
  if (::chmod(path.c_str(), st.st_mode & 07700) != 0) return ErrnoStatus(errno, "chmod", path);
  if (tightened) *tightened = true;
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  std::string out(a);
  if (out.back() != '/') out += '/';
  out += b;
  return out;
}

std::string BaseName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::vector<std::string_view> Split(std::string_view text, char separator, bool keep_empty) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(separator, pos);
    if (end == std::string_view::npos) end = text.size();
    if (keep_empty || end > pos) out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool ParseDecimal(std::string_view text, uint64_t* out) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end) return false;
  *out = v;
  return true;
}

std::string_view TrimSpace(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> SplitLines(std::string_view text) { return Split(text, '\n', true); }

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view comp = path.substr(i, slash - i);
    i = slash + 1;
    if (!comp.empty() && comp != ".") out.push_back(comp);
  }
  return out;
}

std::string DirName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

Result<TempDir> TempDir::Create(const std::string& parent, std::string_view prefix) {
  RETURN_IF_ERROR(MakeDirs(parent));
  std::string templ = JoinPath(parent, std::string(prefix) + "XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) {
    return ErrnoStatus(errno, "mkdtemp", templ);
  }
  return TempDir(std::move(templ));
}

TempDir::~TempDir() {
  if (!path_.empty()) RemoveTree(path_).IgnoreError();
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, std::string())) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) RemoveTree(path_).IgnoreError();
    path_ = std::exchange(other.path_, std::string());
  }
  return *this;
}

Result<UniqueFd> OpenInRoot(int root_fd, std::string_view path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  size_t start = path.find_first_not_of('/');
  std::string rel = start == std::string_view::npos ? "." : std::string(path.substr(start));
  for (;;) {
    long fd = ::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof(how));
    if (fd >= 0) return UniqueFd::Adopt(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;
    return ErrnoStatus(errno, "open (inside root)", path);
  }
}

Result<std::string> FdPath(int fd) {
  char buf[PATH_MAX];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) return ErrnoStatus(errno, "readlink", link);
  return std::string(buf, static_cast<size_t>(n));
}

Result<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, "opendir", path);
  std::vector<std::string> out;
  while (struct dirent* de = ::readdir(dir)) {
    std::string name = de->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  ::closedir(dir);
  return out;
}

}  // namespace syspgo
