// SPDX-License-Identifier: Apache-2.0
// File: oci/tar.h
//
// A streaming tar reader and writer: ustar, GNU long names (L/K), PAX
// extended headers (path, linkpath, size, uid, gid, mtime, uname, gname and
// SCHILY.xattr.* / LIBARCHIVE.xattr.*), base-256 numbers. The reader checks
// every header checksum and bounds every length it is given; it never
// trusts a size beyond what the stream holds.
#ifndef SYSPGO_OCI_TAR_H_
#define SYSPGO_OCI_TAR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "common/status.h"
#include "common/stream.h"

namespace syspgo::oci {

enum class TarType {
  kRegular,
  kHardLink,
  kSymlink,
  kCharDevice,
  kBlockDevice,
  kDirectory,
  kFifo,
};

struct TarEntry {
  std::string name;  // as stored (not yet sanitized)
  TarType type = TarType::kRegular;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky
  int64_t uid = 0;
  int64_t gid = 0;
  int64_t size = 0;  // data bytes (regular files only)
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  std::string linkname;  // symlink target or hard-link target path
  uint32_t devmajor = 0;
  uint32_t devminor = 0;
  std::string uname;
  std::string gname;
  std::map<std::string, std::string> xattrs;
  // Offset in the uncompressed stream of this entry's first data byte.
  int64_t data_offset = 0;
};

class TarReader {
 public:
  // source must outlive the reader.
  explicit TarReader(ByteReader* source) : source_(source) {}

  // The next entry, or nullopt at the end of the archive. Unread data of the
  // previous entry is skipped.
  Result<std::optional<TarEntry>> Next();
  // Reads the current entry's data; 0 at its end.
  Result<size_t> ReadData(std::span<char> buf);
  // Bytes of the uncompressed stream consumed so far.
  int64_t offset() const { return offset_; }

 private:
  Status ReadExact(std::span<char> buf);
  Status Skip(int64_t bytes);
  Result<std::string> ReadMetaData(int64_t size, const char* what);

  ByteReader* source_;
  int64_t offset_ = 0;
  int64_t remaining_ = 0;  // data bytes left in the current entry
  int64_t padding_ = 0;    // padding after the current entry's data
  std::map<std::string, std::string> global_pax_;
  bool ended_ = false;
};

// Writes a tar stream into a sink. Names and link names longer than the
// ustar fields, large numbers, sub-second mtimes and xattrs go in PAX headers.
class TarWriter {
 public:
  using Sink = std::function<Status(std::span<const char>)>;
  explicit TarWriter(Sink sink) : sink_(std::move(sink)) {}

  Status WriteHeader(const TarEntry& entry);
  // Exactly entry.size bytes in total must follow a regular-file header.
  Status WriteData(std::span<const char> data);
  // Pads the last entry and writes the end-of-archive marker.
  Status Finish();

 private:
  Status Emit(std::span<const char> data);
  Status Pad();
  Sink sink_;
  int64_t remaining_ = 0;
  int64_t written_in_entry_ = 0;
};

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_TAR_H_
