// SPDX-License-Identifier: Apache-2.0
// File: fs/file_data.h
//
// The bytes of a file of the image: each range inside one of the file's
// runtime-image extents comes from the runtime page cache; every other range
// (and an extent whose chunk failed) from the layer fallback. Counts where
// the bytes came from and which files missed. Thread-safe.
#ifndef SYSPGO_FS_FILE_DATA_H_
#define SYSPGO_FS_FILE_DATA_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "common/log.h"
#include "common/status.h"
#include "fs/fetch.h"
#include "fs/image_tree.h"

namespace syspgo::fs {

struct ReadCounters {
  std::atomic<int64_t> reads{0};  // FUSE READ requests
  std::atomic<int64_t> bytes_runtime_image{0};
  std::atomic<int64_t> bytes_fallback{0};
  std::atomic<int64_t> misses{0};  // reads that needed the fallback
  std::atomic<int64_t> errors{0};  // reads answered with EIO
};

class FileData {
 public:
  // All pointers outlive the object; page_cache is null in the lazy and
  // prefetch modes.
  FileData(const ImageTree* tree, RuntimePageCache* page_cache, LayerFetcher* fallback,
           const Logger* log)
      : tree_(tree), page_cache_(page_cache), fallback_(fallback), log_(log) {}

  // Bytes [offset, offset+length) of content (short at the end of the file).
  // A failure is logged with the file's path.
  Result<std::string> Read(uint32_t content, uint64_t offset, uint64_t length);

  const ReadCounters& counters() const { return counters_; }
  // Fallback reads per file path.
  std::map<std::string, int64_t> MissesByFile() const;

 private:
  Status ReadInto(uint32_t content, uint64_t offset, std::string* out, bool* missed);

  const ImageTree* tree_;
  RuntimePageCache* page_cache_;
  LayerFetcher* fallback_;
  const Logger* log_;
  ReadCounters counters_;
  mutable std::mutex mu_;  // guards misses_by_content_
  std::map<uint32_t, int64_t> misses_by_content_;
};

}  // namespace syspgo::fs

#endif  // SYSPGO_FS_FILE_DATA_H_
