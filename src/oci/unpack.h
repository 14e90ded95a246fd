// SPDX-License-Identifier: Apache-2.0
// File: oci/unpack.h
//
// Applies the entries of a layer's tar stream to a directory that becomes an
// overlayfs lower layer. OCI whiteouts are converted to overlayfs form:
// ".wh.NAME" becomes a 0:0 character device NAME, ".wh..wh..opq" sets
// trusted.overlay.opaque=y on its directory.
//
// Safety: every path is resolved with openat2(RESOLVE_IN_ROOT), so neither
// ".." nor a symlink in the layer can make an entry land outside the root
// (a symlinked parent is followed inside the root, as containerd does);
// absolute names are paths inside the root, names whose ".." climbs above
// it are refused, and the last component is never followed.
#ifndef SYSPGO_OCI_UNPACK_H_
#define SYSPGO_OCI_UNPACK_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

#include "common/status.h"
#include "common/stream.h"
#include "common/unique_fd.h"
#include "oci/tar.h"

namespace syspgo::oci {

// overlayfs' own xattrs (trusted.overlay.*): never taken from a layer.
inline bool IsOverlayPrivateXattr(std::string_view name) {
  return name.starts_with("trusted.overlay.");
}

// The cleaned relative path of a tar member ("./a//b/" -> "a/b", "./" -> "",
// "/etc/x" -> "etc/x", "a/../b" -> "b"). A name whose ".." climbs above the
// root is an error (kPermissionDenied).
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
  // Removes `name` in `parent`.
  Status RemoveExisting(int parent, const std::string& name, const struct stat& st);
  Status WriteRegular(int parent, const std::string& name, const TarEntry& e, TarReader& reader);
  // `opaque`: the directory replaces this layer's whiteout of its name.
  Status ApplyDirectory(int parent, const std::string& name, const std::string& path,
                        const TarEntry& e, bool exists, bool opaque);
  // Owner, (mode), xattrs and times of a node that is not opened (symlinks,
  // devices, FIFOs); never follows a final symlink.
  Status SetMetadataByPath(int parent, const std::string& name, const TarEntry& e, bool chmod);

  UniqueFd root_;
  std::string root_real_;        // the root's absolute path, symlinks resolved
  std::string cached_dir_path_;  // OpenDir() cache of one entry
  UniqueFd cached_dir_;
  bool cache_valid_ = false;
  // Directory mtimes, set by Finish(); by real path in the layer ("" is
  // the root).
  std::map<std::string, struct timespec> dir_times_;
  std::vector<char> buffer_;
  UnpackStats stats_;
};

// Reads a whole tar stream into root.
Status UnpackTarStream(ByteReader* tar_stream, const std::string& root, UnpackStats* stats);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_UNPACK_H_
