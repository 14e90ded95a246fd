// SPDX-License-Identifier: Apache-2.0
#include "trace/readahead.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/file_lock.h"
#include "common/file_util.h"

namespace syspgo::trace {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status WriteSetting(const std::string& file, const std::string& value) {
  ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(file, O_WRONLY));
  return WriteAll(fd.get(), std::string_view(value), file);
}

// A record holds two lines: the sysfs file and the value to restore.
Status ApplyRecord(const std::string& record) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(record, 4096));
  size_t nl = text.find('\n');
  if (nl == std::string::npos) return Corruption("readahead record " + record + " is malformed");
  std::string setting = text.substr(0, nl);
  std::string value = Trim(text.substr(nl + 1));
  if (setting.rfind("/sys/", 0) != 0 || value.empty() ||
      value.find_first_not_of("0123456789") != std::string::npos) {
    return Corruption("readahead record " + record + " is malformed");
  }
  return WriteSetting(setting, value);
}

}  // namespace

std::string ReadaheadSettingFor(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";
  std::string dev =
      "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  for (const char* candidate : {"/queue/read_ahead_kb", "/../queue/read_ahead_kb"}) {
    std::string file = dev + candidate;
    if (::access(file.c_str(), W_OK) == 0) return file;
  }
  return "";
}

Result<ReadaheadGuard> ReadaheadGuard::DisableFor(const std::string& path,
                                                  const std::string& record_dir) {
  ReadaheadGuard guard;
  std::string setting = ReadaheadSettingFor(path);
  if (setting.empty()) return guard;
  ASSIGN_OR_RETURN(std::string old_value, ReadFileToString(setting, 64));
  old_value = Trim(old_value);
  RETURN_IF_ERROR(MakeDirs(record_dir, 0700));
  struct stat st;
  ::stat(path.c_str(), &st);
  std::string record = JoinPath(
      record_dir, std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)));
  // Another live tracer already turned this device's readahead off: the
  // value to restore is in its record, and it will restore it.
  const TriedLock existing = TryLockFile(record);
  if (existing.held()) return guard;
  if (existing.taken()) {
    // Unlocked: a dead tracer's record. Its old value is the true one.
    RETURN_IF_ERROR(ApplyRecord(record));
    ASSIGN_OR_RETURN(old_value, ReadFileToString(setting, 64));
    old_value = Trim(old_value);
  }
  // Write the record (under a lock) before changing anything.
  std::string tmp = record + ".tmp." + std::to_string(::getpid());
  ASSIGN_OR_RETURN(UniqueFd lock, UniqueFd::Open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600));
  if (::flock(lock.get(), LOCK_EX) != 0) return ErrnoStatus(errno, "lock", tmp);
  RETURN_IF_ERROR(WriteAll(lock.get(), std::string_view(setting + "\n" + old_value + "\n"), tmp));
  if (::fsync(lock.get()) != 0) return ErrnoStatus(errno, "fsync", tmp);
  if (::rename(tmp.c_str(), record.c_str()) != 0) return ErrnoStatus(errno, "rename", record);
  guard.setting_ = setting;
  guard.old_value_ = old_value;
  guard.record_ = record;
  guard.record_lock_ = std::move(lock);
  Status changed = WriteSetting(setting, "0");
  if (!changed.ok()) {
    guard.Restore().IgnoreError();
    return changed;
  }
  return guard;
}

ReadaheadGuard::~ReadaheadGuard() { Restore().IgnoreError(); }

ReadaheadGuard::ReadaheadGuard(ReadaheadGuard&& other) noexcept
    : setting_(std::exchange(other.setting_, {})),
      old_value_(std::move(other.old_value_)),
      record_(std::move(other.record_)),
      record_lock_(std::move(other.record_lock_)) {}

ReadaheadGuard& ReadaheadGuard::operator=(ReadaheadGuard&& other) noexcept {
  if (this != &other) {
    Restore().IgnoreError();
    setting_ = std::exchange(other.setting_, {});
    old_value_ = std::move(other.old_value_);
    record_ = std::move(other.record_);
    record_lock_ = std::move(other.record_lock_);
  }
  return *this;
}

Status ReadaheadGuard::Restore() {
  if (setting_.empty()) return Status::Ok();
  Status st = WriteSetting(setting_, old_value_);
  if (st.ok()) ::unlink(record_.c_str());  // a failed restore stays on record
  setting_.clear();
  record_lock_.Reset();
  return st;
}

void RestoreStaleReadahead(const Logger* log, const std::string& record_dir) {
  auto entries = ListDir(record_dir);
  if (!entries.ok()) return;
  for (const std::string& name : *entries) {
    std::string record = JoinPath(record_dir, name);
    const TriedLock lock = TryLockFile(record);
    if (!lock.taken()) continue;  // live, or gone
    if (name.find(".tmp.") != std::string::npos) {
      ::unlink(record.c_str());  // never renamed: nothing was changed yet
      continue;
    }
    Status st = ApplyRecord(record);
    if (st.ok()) {
      ::unlink(record.c_str());
      if (log) log->Info("restored readahead from " + record + " (left by a killed tracer)");
    } else if (log) {
      log->Warning("cannot restore readahead from " + record + ": " + st.message());
    }
  }
}

}  // namespace syspgo::trace
