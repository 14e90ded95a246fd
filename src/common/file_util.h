// SPDX-License-Identifier: Apache-2.0
// File: common/file_util.h
//
// Small file-system helpers. Every failure names the operation and the path.
#ifndef SYSPGO_COMMON_FILE_UTIL_H_
#define SYSPGO_COMMON_FILE_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace syspgo {

// write(2) until all of data is written (retrying EINTR and short writes).
Status WriteAll(int fd, std::span<const char> data, std::string_view what);
Status WriteAll(int fd, std::string_view data, std::string_view what);
// read(2) until buf is full or end of file; returns bytes read.
Result<size_t> ReadFull(int fd, std::span<char> buf, std::string_view what);
// The same with pread(2) from `offset` (the file position is not moved).
Result<size_t> ReadFullAt(int fd, std::span<char> buf, uint64_t offset, std::string_view what);

Result<std::string> ReadFileToString(const std::string& path, size_t max_bytes = 64 << 20);
// The rest of an open file (or pipe, to its end), refused when larger than
// max_bytes; errors name `what`.
Result<std::string> ReadToEnd(int fd, size_t max_bytes, std::string_view what);
// The file `name` of the open directory `dirfd`: `name` must be a plain
// file name (IsPlainFileName) and is not followed when it is a symlink.
// Errors name `shown` (the directory's path, for people) and `name`.
Result<std::string> ReadFileAt(int dirfd, std::string_view name, size_t max_bytes,
                               std::string_view shown);
// One path component that names an entry of a directory: not empty, not
// "." or "..", no '/' or NUL, at most 255 bytes. What a name that came
// from a file or a registry must be before it becomes a path.
bool IsPlainFileName(std::string_view name);
// Writes path.tmp.<unique> (mode `mode`), fsyncs it when durable, then
// renames it to path: a reader sees the old content or the whole new one,
// never a part. Concurrent writers of one path each rename a whole file.
Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode = 0644,
                       bool durable = true);

// What a tree takes on disk: allocated bytes and inodes under `path`
// (itself included), hard links once, symlinks not followed; zeros when
// it does not exist. One walk for every caller (store, gc, snapshotter).
struct DiskUse {
  int64_t bytes = 0;
  int64_t inodes = 0;
};
DiskUse MeasureDiskUse(const std::string& path);

// mkdir -p; existing directories are fine.
Status MakeDirs(const std::string& path, mode_t mode = 0755);
// The directory a daemon's output file (a metrics file) goes in: made
// (0755, parents too) when missing. An error that names `what` and the
// path when it cannot be, so a daemon refuses its option at start with one
// message instead of warning at every write.
Status PrepareOutputDir(const std::string& file, std::string_view what);
// A directory only its owner may enter (0700), for data as private as the
// image files it holds: made (parents too, 0700) when missing; an existing
// one that others may read or enter is tightened to 0700 when we own it
// (`*tightened` says so) and refused when we do not.
Status MakePrivateDir(const std::string& path, bool* tightened = nullptr);
// rm -rf that never crosses into another mount and never follows symlinks.
// A missing path is fine.
Status RemoveTree(const std::string& path);
// Same, relative to an open directory.
Status RemoveTreeAt(int dirfd, const std::string& name);

bool PathExists(const std::string& path);
std::string JoinPath(std::string_view a, std::string_view b);
std::string BaseName(std::string_view path);
std::string DirName(std::string_view path);
// The components of a slash-separated path, without empty ones and "."
// ("/a//./b/../c" -> a, b, .., c). The views point into `path`.
std::vector<std::string_view> SplitPath(std::string_view path);
// The pieces of `text` between separators, as views into it; empty pieces
// only with keep_empty.
std::vector<std::string_view> Split(std::string_view text, char separator, bool keep_empty);
// The lines of a text (without their '\n'; a last line without one
// counts), as views into it.
std::vector<std::string_view> SplitLines(std::string_view text);
// `text` without the spaces, tabs, carriage returns and newlines around it.
std::string_view TrimSpace(std::string_view text);
// A decimal number that is the whole of `text` (digits only: no sign, no
// spaces) and fits 64 bits.
bool ParseDecimal(std::string_view text, uint64_t* out);

// An owned temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  // Creates <parent>/<prefix>XXXXXX.
  static Result<TempDir> Create(const std::string& parent, std::string_view prefix);
  TempDir() = default;
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The directory is no longer removed on destruction (it was renamed away).
  void Release() { path_.clear(); }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Opens `path` resolved as if root_fd were "/" (openat2 RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS): neither ".." nor symlinks leave the root. Leading
// slashes are ignored; "" or "/" is the root itself. O_CLOEXEC is added.
Result<UniqueFd> OpenInRoot(int root_fd, std::string_view path, int flags);

// The path the kernel gives an open fd (readlink of /proc/self/fd/N).
Result<std::string> FdPath(int fd);

// Reads the entries of a directory (no "." or "..").
Result<std::vector<std::string>> ListDir(const std::string& path);

}  // namespace syspgo

#endif  // SYSPGO_COMMON_FILE_UTIL_H_
