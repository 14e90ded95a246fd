// SPDX-License-Identifier: Apache-2.0
// Lock files: a lock held by a live process reads as held and is not
// taken; the same lock after its owner died is taken; a wait ends with the
// lock, at its deadline or when cancelled; a symlink is not a lock file.
#include "common/file_lock.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "common/file_util.h"

namespace syspgo {
namespace {

// A child process that takes `path`'s lock, says so, and holds it until it
// is killed.
pid_t HoldInChild(const std::string& path, int op) {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::flock(fd, op) != 0) _exit(1);
    (void)!::write(ready[1], "x", 1);
    ::pause();
    _exit(0);
  }
  ::close(ready[1]);
  char c;
  const bool ok = ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  return ok ? pid : -1;
}

void Kill(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST(FileLockTest, HeldWhileItsOwnerLivesTakenAfter) {
  auto tmp = TempDir::Create("/tmp", "syspgo-lock-");
  ASSERT_TRUE(tmp.ok());
  const std::string path = JoinPath(tmp->path(), "lock");
  EXPECT_EQ(TryLockFile(path).state, TriedLock::kMissing);
  const pid_t owner = HoldInChild(path, LOCK_EX);
  ASSERT_GT(owner, 0);
  TriedLock held = TryLockFile(path);
  EXPECT_TRUE(held.held());
  EXPECT_FALSE(held.fd.valid());
  EXPECT_TRUE(TryLockFile(path, LOCK_SH).held());
  Kill(owner);
  TriedLock taken = TryLockFile(path);
  ASSERT_TRUE(taken.taken());
  // While we hold it, another open file description cannot take it.
  EXPECT_TRUE(TryLockFile(path).held());
  taken.fd.Reset();
  EXPECT_TRUE(TryLockFile(path).taken());
}

TEST(FileLockTest, SharedProbesDoNotExcludeEachOther) {
  auto tmp = TempDir::Create("/tmp", "syspgo-lock-");
  ASSERT_TRUE(tmp.ok());
  const std::string path = JoinPath(tmp->path(), "lock");
  ASSERT_TRUE(WriteFileAtomic(path, "").ok());
  TriedLock a = TryLockFile(path, LOCK_SH);
  ASSERT_TRUE(a.taken());
  EXPECT_TRUE(TryLockFile(path, LOCK_SH).taken());
  EXPECT_TRUE(TryLockFile(path, LOCK_EX).held());
}

TEST(FileLockTest, ASymlinkIsNoLockFile) {
  auto tmp = TempDir::Create("/tmp", "syspgo-lock-");
  ASSERT_TRUE(tmp.ok());
  const std::string target = JoinPath(tmp->path(), "target");
  ASSERT_TRUE(WriteFileAtomic(target, "").ok());
  const std::string link = JoinPath(tmp->path(), "lock");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(TryLockFile(link).state, TriedLock::kMissing);
}

TEST(FileLockTest, WaitEndsWithTheLockTheDeadlineOrTheCancel) {
  auto tmp = TempDir::Create("/tmp", "syspgo-lock-");
  ASSERT_TRUE(tmp.ok());
  const std::string path = JoinPath(tmp->path(), "lock");
  const pid_t owner = HoldInChild(path, LOCK_EX);
  ASSERT_GT(owner, 0);
  auto late = WaitForFileLock(
      path, LOCK_SH, {.timeout = std::chrono::milliseconds(50), .waiting_for = "the test's lock"});
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(late.status().message().find("the test's lock"), std::string::npos);
  auto once = WaitForFileLock(path, LOCK_EX, {.timeout = std::chrono::milliseconds(0)});
  EXPECT_EQ(once.status().code(), StatusCode::kDeadlineExceeded);
  CancelToken cancel;
  cancel.Cancel();
  auto cancelled = WaitForFileLock(path, LOCK_EX, {.cancel = &cancel, .waiting_for = "x"});
  EXPECT_EQ(cancelled.status().code(), StatusCode::kCancelled);
  // No deadline: it waits until the owner is gone.
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Kill(owner);
  });
  auto got = WaitForFileLock(path, LOCK_EX, {});
  killer.join();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(TryLockFile(path).held());
}

}  // namespace
}  // namespace syspgo
