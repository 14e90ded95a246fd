// SPDX-License-Identifier: Apache-2.0
// File: fs/image_fs.h
//
// The FUSE file system of an image (libfuse 3 low-level API, multi-threaded
// loop): lookups, attributes, listings, symlinks and xattrs answered from
// the runtime image's metadata in memory with day-long timeouts (the image
// never changes), negative lookups cached too; file bytes from FileData. The
// mount is read-only; an overlayfs upper layer on top takes the writes.
//
// open/opendir answer ENOSYS where the kernel supports it, so opens cost no
// round trip and the page cache of a file stays valid across opens (the
// runtime page cache puts data there with Push()).
//
// Threading: handlers run on the loop's threads; Push() from one other
// thread at a time. Nothing throws across a libfuse callback.
#ifndef SYSPGO_FS_IMAGE_FS_H_
#define SYSPGO_FS_IMAGE_FS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "fs/file_data.h"
#include "fs/image_tree.h"

struct fuse_session;

namespace syspgo::fs {

// A child process that looks paths up (lstat) for the daemon. No thread of
// the process serving a FUSE mount may wait on that mount: were the
// process killed while such a request is out, the thread would wait for an
// answer forever, holding /dev/fuse open, and the process could never exit
// (the connection is only aborted once /dev/fuse is closed). The helper
// holds no descriptor but its two pipes, and dies with its parent.
class LookupHelper {
 public:
  // Forks the helper (it calls only async-signal-safe functions).
  static Result<LookupHelper> Start();
  LookupHelper() = default;
  LookupHelper(LookupHelper&& other) noexcept;
  LookupHelper& operator=(LookupHelper&& other) noexcept;
  ~LookupHelper();
  // lstat(path) in the helper; the errno it got, as a Status.
  Status Lookup(const std::string& path);

 private:
  void Close();
  pid_t pid_ = -1;
  UniqueFd requests_;  // write end
  UniqueFd answers_;   // read end
};

struct ImageFsOptions {
  uint32_t max_readahead = 128 << 10;
  int max_threads = 16;
  double cache_timeout_s = 86400;  // entries, negative entries, attributes
};

// Requests the kernel sent, by kind (READs are FileData's counters).
struct FsCounters {
  std::atomic<int64_t> lookups{0};
  std::atomic<int64_t> negative_lookups{0};
  std::atomic<int64_t> getattrs{0};
  std::atomic<int64_t> readdirs{0};
  std::atomic<int64_t> readlinks{0};
  std::atomic<int64_t> xattr_requests{0};
  std::atomic<int64_t> opens{0};
};

class ImageFs {
 public:
  // Mounts at `dir` and starts the loop. tree, data and log outlive this.
  static Result<std::unique_ptr<ImageFs>> Mount(const ImageTree* tree, FileData* data,
                                                const std::string& dir,
                                                const ImageFsOptions& options, const Logger* log);
  ~ImageFs();
  ImageFs(const ImageFs&) = delete;
  ImageFs& operator=(const ImageFs&) = delete;

  // Stores file bytes in the kernel's page cache of the file holding
  // `content` (having the LookupHelper look the file up through the mount
  // first, so that the kernel has its inode).
  Status Push(uint32_t content, uint64_t offset, std::string_view data);

  // Detaches the mount, then waits up to `wait` for the kernel to end the
  // connection (it does when the last user is gone); after that the
  // connection is aborted (users get ENOTCONN). Idempotent.
  Status Unmount(std::chrono::milliseconds wait);
  // The loop has ended: unmounted here or by someone else, or aborted.
  bool ended() const { return ended_; }
  // Waits up to `timeout` for the loop to end.
  bool WaitEnded(std::chrono::milliseconds timeout);
  const FsCounters& counters() const { return counters_; }
  const std::string& dir() const { return dir_; }

  struct Ops;  // the libfuse handlers

 private:
  ImageFs(const ImageTree* tree, FileData* data, std::string dir, ImageFsOptions options,
          const Logger* log);
  Status AbortConnection();

  const ImageTree* tree_;
  FileData* data_;
  std::string dir_;
  ImageFsOptions options_;
  const Logger* log_;
  bool has_xattrs_ = false;
  std::atomic<bool> no_open_{false};  // the kernel skips open on ENOSYS
  LookupHelper lookups_;              // Push's lookups through the mount
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
  dev_t dev_ = 0;                // of the mount, names its fusectl directory
  std::vector<bool> looked_up_;  // per content; only Push's thread uses it
  std::thread loop_;
  std::mutex mu_;  // guards nothing but pairs with ended_cv_
  std::condition_variable ended_cv_;
  std::atomic<bool> ended_{false};
  FsCounters counters_;
};

// The mount points of the FUSE mounts this process sees (dead ones
// included), from /proc/self/mountinfo.
std::vector<std::string> FuseMountPoints();
// True when `dir` is the root of a FUSE mount (a dead one included).
bool IsFuseMount(const std::string& dir);

}  // namespace syspgo::fs

#endif  // SYSPGO_FS_IMAGE_FS_H_
