// SPDX-License-Identifier: Apache-2.0
#include "common/staged_dir.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/file_util.h"

namespace syspgo {
namespace {

constexpr std::string_view kStagingPrefix = ".staging-";

std::string RandomSuffix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[8] = {};
  if (::getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
    // Unique enough with the pid and a counter: mkdirat refuses a
    // duplicate anyway.
    static unsigned counter = 0;
    const unsigned v = static_cast<unsigned>(::getpid()) * 2654435761u + ++counter;
    for (size_t i = 0; i < sizeof(bytes); ++i) bytes[i] = static_cast<unsigned char>(v >> (i * 4));
  }
  std::string out;
  for (unsigned char b : bytes) out += kAlphabet[b % (sizeof(kAlphabet) - 1)];
  return out;
}

}  // namespace

Result<StagedDir> StagedDir::Open(const std::string& path, mode_t mode) {
  StagedDir out;
  out.path_ = path;
  struct stat st;
  out.created_ = ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
  RETURN_IF_ERROR(MakeDirs(path, mode));
  ASSIGN_OR_RETURN(out.dir_, UniqueFd::Open(path, O_RDONLY | O_DIRECTORY));
  for (int attempt = 0;; ++attempt) {
    std::string name = std::string(kStagingPrefix) + RandomSuffix();
    if (::mkdirat(out.dir_.get(), name.c_str(), 0700) == 0) {
      out.staging_name_ = std::move(name);
      break;
    }
    if (errno != EEXIST || attempt == 10) return ErrnoStatus(errno, "mkdir", JoinPath(path, name));
  }
  ASSIGN_OR_RETURN(out.staging_, UniqueFd::OpenAt(out.dir_.get(), out.staging_name_,
                                                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  return out;
}

StagedDir::~StagedDir() { Abandon(); }

StagedDir::StagedDir(StagedDir&& other) noexcept
    : path_(std::move(other.path_)),
      dir_(std::move(other.dir_)),
      staging_(std::move(other.staging_)),
      staging_name_(std::exchange(other.staging_name_, std::string())),
      created_(std::exchange(other.created_, false)),
      names_(std::move(other.names_)) {}

StagedDir& StagedDir::operator=(StagedDir&& other) noexcept {
  if (this != &other) {
    Abandon();
    path_ = std::move(other.path_);
    dir_ = std::move(other.dir_);
    staging_ = std::move(other.staging_);
    staging_name_ = std::exchange(other.staging_name_, std::string());
    created_ = std::exchange(other.created_, false);
    names_ = std::move(other.names_);
  }
  return *this;
}

void StagedDir::Abandon() {
  if (!dir_.valid()) return;
  staging_.Reset();
  if (!staging_name_.empty()) RemoveTreeAt(dir_.get(), staging_name_).IgnoreError();
  staging_name_.clear();
  // Only when empty: rmdir refuses otherwise.
  if (created_) ::rmdir(path_.c_str());
  created_ = false;
  dir_.Reset();
}

Status StagedDir::Write(std::string_view name, std::string_view content, mode_t mode) {
  const std::string shown = JoinPath(path_, name);
  if (!staging_.valid()) return FailedPrecondition("write " + shown + ": the directory is closed");
  if (!IsPlainFileName(name) || name.starts_with(kStagingPrefix)) {
    return InvalidArgument("write " + shown + ": not a plain file name");
  }
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) {
    return AlreadyExists("write " + shown + ": written twice");
  }
  const std::string n(name);
  const int raw = ::openat(staging_.get(), n.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (raw < 0) return ErrnoStatus(errno, "create", shown);
  UniqueFd fd = UniqueFd::Adopt(raw);
  names_.push_back(n);
  if (::fchmod(fd.get(), mode) != 0) return ErrnoStatus(errno, "chmod", shown);
  return WriteAll(fd.get(), content, shown);
}

Status StagedDir::Commit() {
  if (!staging_.valid()) return FailedPrecondition("commit " + path_ + ": the directory is closed");
  for (const std::string& name : names_) {
    if (::renameat(staging_.get(), name.c_str(), dir_.get(), name.c_str()) != 0) {
      return ErrnoStatus(errno, "rename into", JoinPath(path_, name));
    }
  }
  names_.clear();
  staging_.Reset();
  if (::unlinkat(dir_.get(), staging_name_.c_str(), AT_REMOVEDIR) != 0) {
    return ErrnoStatus(errno, "rmdir", JoinPath(path_, staging_name_));
  }
  staging_name_.clear();
  created_ = false;
  dir_.Reset();
  return Status::Ok();
}

}  // namespace syspgo
