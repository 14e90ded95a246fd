// SPDX-License-Identifier: Apache-2.0
#include "fs/image_tree.h"

#include <sys/sysmacros.h>

#include <algorithm>
#include <unordered_map>

namespace syspgo::fs {
namespace {

std::string_view ParentPath(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? std::string_view("/") : path.substr(0, slash);
}

mode_t TypeBits(rtimage::EntryType type) {
  switch (type) {
    case rtimage::EntryType::kDirectory:
      return S_IFDIR;
    case rtimage::EntryType::kRegular:
      return S_IFREG;
    case rtimage::EntryType::kSymlink:
      return S_IFLNK;
    case rtimage::EntryType::kCharDevice:
      return S_IFCHR;
    case rtimage::EntryType::kBlockDevice:
      return S_IFBLK;
    case rtimage::EntryType::kFifo:
      return S_IFIFO;
  }
  return 0;
}

}  // namespace

Result<ImageTree> ImageTree::Build(const rtimage::Metadata* metadata) {
  const auto& entries = metadata->entries;
  if (entries.empty() || entries[0].path != "/" ||
      entries[0].type != rtimage::EntryType::kDirectory) {
    return Corruption("runtime image metadata has no root directory");
  }
  ImageTree tree(metadata);
  const size_t n = entries.size();
  tree.canonical_.resize(n);
  tree.nlink_.assign(n, 1);
  tree.parent_.assign(n, 0);
  tree.children_.resize(n);
  tree.content_entry_.assign(metadata->contents.size(), rtimage::kNoContent);
  std::vector<uint32_t> links(metadata->contents.size(), 0);
  // Directories by path: each entry's parent is found in one probe.
  std::unordered_map<std::string_view, uint32_t> dirs;
  dirs.reserve(n / 4 + 1);
  for (size_t i = 0; i < n; ++i) {
    const rtimage::Entry& e = entries[i];
    tree.canonical_[i] = static_cast<uint32_t>(i);
    if (e.type == rtimage::EntryType::kRegular && e.content != rtimage::kNoContent) {
      if (e.content >= metadata->contents.size()) {
        return Corruption("entry " + e.path + " names content " + std::to_string(e.content) +
                          " of " + std::to_string(metadata->contents.size()));
      }
      uint32_t& first = tree.content_entry_[e.content];
      if (first == rtimage::kNoContent) first = static_cast<uint32_t>(i);
      tree.canonical_[i] = first;
      ++links[e.content];
    }
    if (e.type == rtimage::EntryType::kDirectory) dirs.emplace(e.path, static_cast<uint32_t>(i));
    if (i == 0) continue;
    // Entries are sorted by path, so a parent precedes its children.
    auto parent_it = dirs.find(ParentPath(e.path));
    if (parent_it == dirs.end()) {
      return Corruption("entry " + e.path + " has no parent directory");
    }
    const uint32_t parent = parent_it->second;
    tree.children_[parent].push_back(static_cast<uint32_t>(i));
    tree.parent_[i] = parent;
    if (e.type == rtimage::EntryType::kDirectory) ++tree.nlink_[parent];
  }
  auto by_name = [&](uint32_t a, uint32_t b) { return tree.NameOf(a) < tree.NameOf(b); };
  for (size_t i = 0; i < n; ++i) {
    const rtimage::Entry& e = entries[i];
    if (e.type == rtimage::EntryType::kDirectory) {
      tree.nlink_[i] += 1;  // "." and the entry in its parent
      // Siblings share their path up to the name, so path order (the
      // metadata's) is name order already; sort only metadata that is not.
      auto& kids = tree.children_[i];
      if (!std::is_sorted(kids.begin(), kids.end(), by_name)) {
        std::sort(kids.begin(), kids.end(), by_name);
      }
    } else if (e.type == rtimage::EntryType::kRegular && e.content != rtimage::kNoContent) {
      tree.nlink_[i] = links[e.content];
    }
  }
  return tree;
}

std::optional<size_t> ImageTree::EntryOf(uint64_t inode) const {
  if (inode == 0 || inode > canonical_.size()) return std::nullopt;
  size_t entry = static_cast<size_t>(inode - 1);
  if (canonical_[entry] != entry) return std::nullopt;
  return entry;
}

std::string_view ImageTree::NameOf(size_t entry) const {
  std::string_view path = metadata_->entries[entry].path;
  return entry == 0 ? path : path.substr(path.rfind('/') + 1);
}

std::optional<size_t> ImageTree::Lookup(uint64_t parent, std::string_view name) const {
  std::optional<size_t> dir = EntryOf(parent);
  if (!dir || metadata_->entries[*dir].type != rtimage::EntryType::kDirectory) {
    return std::nullopt;
  }
  const auto& kids = children_[*dir];
  auto it = std::lower_bound(kids.begin(), kids.end(), name,
                             [&](uint32_t e, std::string_view n) { return NameOf(e) < n; });
  if (it == kids.end() || NameOf(*it) != name) return std::nullopt;
  return *it;
}

struct stat ImageTree::Stat(size_t entry) const {
  const rtimage::Entry& e = metadata_->entries[entry];
  struct stat st {};
  st.st_ino = InodeOf(entry);
  st.st_mode = TypeBits(e.type) | (e.mode & 07777);
  st.st_nlink = nlink_[entry];
  st.st_uid = e.uid;
  st.st_gid = e.gid;
  if (e.type == rtimage::EntryType::kRegular && e.content != rtimage::kNoContent) {
    st.st_size = static_cast<off_t>(metadata_->contents[e.content].size);
  } else if (e.type == rtimage::EntryType::kSymlink) {
    st.st_size = static_cast<off_t>(e.symlink_target.size());
  } else if (e.type == rtimage::EntryType::kDirectory) {
    st.st_size = 4096;
  }
  if (e.type == rtimage::EntryType::kCharDevice || e.type == rtimage::EntryType::kBlockDevice) {
    st.st_rdev = makedev(e.rdev_major, e.rdev_minor);
  }
  st.st_blksize = 4096;
  st.st_blocks = (st.st_size + 511) / 512;
  st.st_mtim.tv_sec = e.mtime_sec;
  st.st_mtim.tv_nsec = e.mtime_nsec;
  st.st_atim = st.st_mtim;
  st.st_ctim = st.st_mtim;
  return st;
}

}  // namespace syspgo::fs
