// SPDX-License-Identifier: Apache-2.0
// File: trace/readahead.h
//
// Readahead off while tracing, put back afterwards, also after a crash.
// With readahead on, an mmap fault reads a window of pages into the page
// cache, and later touches in it are mapped by fault-around instead of
// faulting, which blurs the record. The setting is the backing device's
// read_ahead_kb, host-wide, so before changing it we write a restore record
// (/run/syspgo/readahead/<maj:min>: the old value) and hold a lock on it.
// The guard restores on destruction; if the process is killed, the next
// syspgo start finds the record unlocked and applies it
// (RestoreStaleReadahead).
#ifndef SYSPGO_TRACE_READAHEAD_H_
#define SYSPGO_TRACE_READAHEAD_H_

#include <string>

#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace syspgo::trace {

inline constexpr char kReadaheadRecordDir[] = "/run/syspgo/readahead";

class ReadaheadGuard {
 public:
  // Turns readahead off for the block device holding `path`. A device
  // without a readahead setting (tmpfs, overlay on nothing) gives an inactive
  // guard, not an error.
  static Result<ReadaheadGuard> DisableFor(const std::string& path,
                                           const std::string& record_dir = kReadaheadRecordDir);
  ReadaheadGuard() = default;
  ~ReadaheadGuard();
  ReadaheadGuard(ReadaheadGuard&& other) noexcept;
  ReadaheadGuard& operator=(ReadaheadGuard&& other) noexcept;
  ReadaheadGuard(const ReadaheadGuard&) = delete;
  ReadaheadGuard& operator=(const ReadaheadGuard&) = delete;

  bool active() const { return !setting_.empty(); }
  const std::string& setting() const { return setting_; }  // the sysfs file
  // Puts the old value back and removes the record.
  Status Restore();

 private:
  std::string setting_;
  std::string old_value_;
  std::string record_;
  UniqueFd record_lock_;  // flock(LOCK_EX) while the change is ours
};

// Applies every restore record no live process holds. Called at each start.
void RestoreStaleReadahead(const Logger* log, const std::string& record_dir = kReadaheadRecordDir);

// The read_ahead_kb file for the device of `path`, or "" if it has none.
std::string ReadaheadSettingFor(const std::string& path);

}  // namespace syspgo::trace

#endif  // SYSPGO_TRACE_READAHEAD_H_
