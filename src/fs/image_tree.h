// SPDX-License-Identifier: Apache-2.0
// File: fs/image_tree.h
//
// The directory tree of a runtime image's metadata, indexed for a file
// system: inode numbers, lookups by (parent, name), directory listings and
// stat data. Inode of entry i is i + 1 (so "/" is 1, FUSE's root); entries
// that share one content (hard links) all answer with the inode of the first
// of them, and nlink counts them. Immutable after Build; safe to read from
// any number of threads. No FUSE dependency.
#ifndef SYSPGO_FS_IMAGE_TREE_H_
#define SYSPGO_FS_IMAGE_TREE_H_

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "rtimage/format.h"

namespace syspgo::fs {

class ImageTree {
 public:
  static constexpr uint64_t kRootInode = 1;

  // `metadata` must outlive the tree.
  static Result<ImageTree> Build(const rtimage::Metadata* metadata);

  const rtimage::Metadata& metadata() const { return *metadata_; }
  size_t size() const { return metadata_->entries.size(); }

  // The inode an entry answers with (its hard-link group's first entry).
  uint64_t InodeOf(size_t entry) const { return canonical_[entry] + 1; }
  // The canonical entry of an inode, or nullopt for a number we never gave.
  std::optional<size_t> EntryOf(uint64_t inode) const;
  // The child `name` of directory inode `parent`.
  std::optional<size_t> Lookup(uint64_t parent, std::string_view name) const;
  // A directory's children, sorted by name (entry indexes).
  const std::vector<uint32_t>& Children(size_t dir) const { return children_[dir]; }
  std::string_view NameOf(size_t entry) const;
  // The directory holding an entry ("/" for "/").
  size_t ParentOf(size_t entry) const { return parent_[entry]; }
  // The entry that holds content `content` (the first of its hard links).
  size_t EntryOfContent(uint32_t content) const { return content_entry_[content]; }
  // stat(2) data of an entry: type and mode, owner, size, nlink, rdev, times
  // (all three are the image's mtime), 512-byte blocks.
  struct stat Stat(size_t entry) const;

 private:
  explicit ImageTree(const rtimage::Metadata* metadata) : metadata_(metadata) {}
  const rtimage::Metadata* metadata_;
  std::vector<uint32_t> canonical_;              // per entry
  std::vector<uint32_t> nlink_;                  // per entry
  std::vector<uint32_t> parent_;                 // per entry
  std::vector<std::vector<uint32_t>> children_;  // per entry (dirs only)
  std::vector<uint32_t> content_entry_;          // per content
};

}  // namespace syspgo::fs

#endif  // SYSPGO_FS_IMAGE_TREE_H_
