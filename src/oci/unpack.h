// SPDX-License-Identifier: Apache-2.0
// File: oci/unpack.h
//
// Applies the entries of a layer's tar stream to a directory that becomes an
// overlayfs lower layer. OCI whiteouts are converted to overlayfs form:
// ".wh.NAME" becomes a 0:0 character device NAME, ".wh..wh..opq" sets
// trusted.overlay.opaque=y on its directory.
//
// Safety: every path is resolved with openat2(RESOLVE_IN_ROOT), so neither
// ".." nor a symlink in the layer can make an entry land outside the root;
// names that are absolute or contain ".." are refused outright, and the last
// component is never followed.
#ifndef SYSPGO_OCI_UNPACK_H_
#define SYSPGO_OCI_UNPACK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

#include "common/status.h"
#include "common/stream.h"
#include "common/unique_fd.h"
#include "oci/tar.h"

namespace syspgo::oci {

// The cleaned relative path of a tar member ("./a//b/" -> "a/b", "./" -> "").
// Absolute names and names with a ".." component are an error.
Result<std::string> SanitizeEntryPath(std::string_view name);

struct UnpackStats {
  int64_t entries = 0;
  int64_t files = 0;
  int64_t directories = 0;
  int64_t symlinks = 0;
  int64_t hardlinks = 0;
  int64_t devices = 0;
  int64_t whiteouts = 0;
  int64_t file_bytes = 0;
};

class Unpacker {
 public:
  // root must be an existing directory; the Unpacker keeps an fd to it.
  static Result<Unpacker> Create(const std::string& root);
  Unpacker(Unpacker&&) = default;
  Unpacker& operator=(Unpacker&&) = default;

  // Applies one entry; for regular files, reads its data from `reader`.
  Status Apply(const TarEntry& entry, TarReader& reader);
  // Sets directory times (deferred, since adding entries changes them).
  Status Finish();
  const UnpackStats& stats() const { return stats_; }

 private:
  explicit Unpacker(UniqueFd root) : root_(std::move(root)) {}
  // An O_PATH fd of the directory at `path` (relative to root, resolved in
  // root), creating missing directories (0755) on the way.
  Result<int> OpenDir(const std::string& path, int depth = 0);
  // Where a directory fd is, relative to the root ("" for the root).
  Result<std::string> PathInRoot(int fd) const;
  Result<UniqueFd> OpenInRoot(const std::string& path, int flags);
  // Removes `name` in `parent`; `path` is its path from the root.
  Status RemoveExisting(int parent, const std::string& name,
                        const std::string& path, const struct stat& st);
  Status WriteRegular(int parent, const std::string& name, const TarEntry& e,
                      TarReader& reader);
  Status ApplyDirectory(int parent, const std::string& name,
                        const std::string& path, const TarEntry& e,
                        bool exists);
  // Owner, (mode), xattrs and times of a node that is not opened (symlinks,
  // devices, FIFOs); never follows a final symlink.
  Status SetMetadataByPath(int parent, const std::string& name, const TarEntry& e,
                           bool chmod);

  UniqueFd root_;
  std::string root_real_;  // the root's absolute path, symlinks resolved
  std::string cached_dir_path_;  // OpenDir() cache of one entry
  UniqueFd cached_dir_;
  bool cache_valid_ = false;
  struct DirTime {
    std::string path;
    struct timespec mtime;
  };
  std::vector<DirTime> dir_times_;
  std::vector<char> buffer_;
  UnpackStats stats_;
};

// Reads a whole tar stream into root.
Status UnpackTarStream(ByteReader* tar_stream, const std::string& root,
                       UnpackStats* stats);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_UNPACK_H_
