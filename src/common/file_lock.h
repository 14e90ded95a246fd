// SPDX-License-Identifier: Apache-2.0
// File: common/file_lock.h
//
// Lock files (flock) as the node uses them: a live process holds the lock
// of what it owns (a mount directory, a container, a session, a record);
// the kernel drops it when the process dies, however it dies. So "is the
// lock held" is "is its owner alive", and a cleaner that takes the lock of
// a dead owner's leftovers holds it while it removes them.
#ifndef SYSPGO_COMMON_FILE_LOCK_H_
#define SYSPGO_COMMON_FILE_LOCK_H_

#include <sys/file.h>

#include <chrono>
#include <string>

#include "common/cancel.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace syspgo {

// What trying a lock file without waiting found.
struct TriedLock {
  enum State { kMissing, kHeld, kTaken } state = kMissing;
  UniqueFd fd;  // kTaken: holds the lock until closed

  bool held() const { return state == kHeld; }
  bool taken() const { return state == kTaken; }
};

// Opens an existing lock file (read-only, not through a symlink) and tries
// to take it with `op` (LOCK_EX, or LOCK_SH for probes that may run side
// by side): kHeld when a live owner has it, kMissing when the file cannot
// be opened (no owner ever, or already removed), kTaken (with the lock)
// otherwise.
TriedLock TryLockFile(const std::string& path, int op = LOCK_EX);

// How long WaitForFileLock waits.
struct LockWait {
  std::chrono::milliseconds timeout{-1};  // < 0: no deadline; 0: one try
  const CancelToken* cancel = nullptr;    // stops the wait when cancelled
  std::string waiting_for;                // for the messages: "the gc lock"
};

// Opens (creating, mode 0600) the lock file `path` and takes it with `op`
// (LOCK_EX or LOCK_SH), polling every 5 ms: the lock, or DeadlineExceeded
// after the timeout, Cancelled when `cancel` is, an errno status for any
// other failure.
Result<UniqueFd> WaitForFileLock(const std::string& path, int op, const LockWait& wait);

}  // namespace syspgo

#endif  // SYSPGO_COMMON_FILE_LOCK_H_
