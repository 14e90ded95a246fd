// SPDX-License-Identifier: Apache-2.0
#include "rtimage/builder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>

#include "common/file_util.h"
#include "common/sha256.h"
#include "common/stream.h"
#include "common/unique_fd.h"
#include "oci/tar.h"
#include "oci/unpack.h"

namespace syspgo::rtimage {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kAufsPrefix = ".wh..wh.";
constexpr size_t kSkippedExamples = 10;

using ByteRanges = std::vector<std::pair<uint64_t, uint64_t>>;  // [begin, end)

void MergeRanges(ByteRanges* ranges) {
  std::sort(ranges->begin(), ranges->end());
  ByteRanges merged;
  for (const auto& r : *ranges) {
    if (r.first >= r.second) continue;
    if (!merged.empty() && r.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  *ranges = std::move(merged);
}

// What the traces say about one path, merged over all profiles.
struct TracedPath {
  uint64_t first_access_ns = UINT64_MAX;
  ByteRanges ranges;  // byte ranges, not yet clipped to the file size
};

// Traced bytes of one file version, copied aside during the layer pass.
struct SpillPiece {
  uint64_t file_offset;
  uint64_t length;
  uint64_t spill_offset;
};

struct ContentRef {
  uint32_t layer = 0;
  uint64_t tar_offset = 0;
  uint64_t size = 0;
  Sha256Bytes digest{};
  std::vector<Sha256Bytes> pieces;  // when larger than a piece
  std::vector<SpillPiece> spilled;
};

struct Node {
  Entry entry;         // content is an index into contents_ while building
  uint32_t layer = 0;  // the layer that last wrote this path
};

Result<StreamCompression> CompressionOf(const oci::Descriptor& d) {
  ASSIGN_OR_RETURN(oci::Compression c, oci::LayerCompression(d.media_type));
  switch (c) {
    case oci::Compression::kNone:
      return StreamCompression::kNone;
    case oci::Compression::kGzip:
      return StreamCompression::kGzip;
    case oci::Compression::kZstd:
      return StreamCompression::kZstd;
  }
  return InvalidArgument("unknown compression");
}

class Builder {
 public:
  explicit Builder(const BuildOptions& options) : options_(options) {}

  Result<BuildReport> Run() {
    if (options_.chunk_span == 0 || options_.chunk_span % 4096 != 0 ||
        options_.chunk_span > kMaxChunkSpan) {
      return InvalidArgument("chunk span must be a multiple of 4096 up to 16 MiB");
    }
    if (options_.piece_size < kMinPieceSize || options_.piece_size > kMaxPieceSize ||
        (options_.piece_size & (options_.piece_size - 1)) != 0) {
      return InvalidArgument("piece size must be a power of two from 64 KiB to 64 MiB");
    }
    RETURN_IF_ERROR(CollectProfiles());
    // The blob holds image bytes (any file the start read): private.
    RETURN_IF_ERROR(MakeDirs(options_.output_dir, 0700));
    ASSIGN_OR_RETURN(spill_, UniqueFd::Open(options_.output_dir, O_TMPFILE | O_RDWR, 0600));
    Node root;
    root.entry.path = "/";
    root.entry.mode = 0755;
    tree_.emplace("/", root);
    for (uint32_t i = 0; i < options_.layers.size(); ++i) {
      auto status = ReadLayer(i);
      if (!status.ok()) {
        return status.WithContext("layer " + options_.layers[i].descriptor.digest.ToString());
      }
    }
    RETURN_IF_ERROR(Assemble());
    RETURN_IF_ERROR(WriteBlob());
    RETURN_IF_ERROR(WriteFiles());
    return report_;
  }

 private:
  Status CollectProfiles() {
    for (const AccessProfile& profile : options_.profiles) {
      if (profile.page_size == 0 || (profile.page_size & (profile.page_size - 1)) != 0) {
        return InvalidArgument("profile page size is not a power of two");
      }
      metadata_.sources.push_back(profile.source);
      for (const AccessedFile& f : profile.files) {
        TracedPath& t = traced_[f.path];
        t.first_access_ns = std::min(t.first_access_ns, f.first_access_ns);
        for (const auto& [page, count] : f.pages) {
          uint64_t begin = page * profile.page_size;
          uint64_t end = (page + count) * profile.page_size;
          if (count == 0 || begin / profile.page_size != page || end < begin) {
            return InvalidArgument("page range out of bounds in profile for " + f.path);
          }
          t.ranges.emplace_back(begin, end);
        }
      }
    }
    for (auto& [path, t] : traced_) MergeRanges(&t.ranges);
    return Status::Ok();
  }

  // Removes path and everything below it that a layer below `layer` wrote
  // (all of it when layer is UINT32_MAX).
  void RemoveSubtree(const std::string& path, uint32_t layer, bool keep_self) {
    if (!keep_self) {
      auto it = tree_.find(path);
      if (it != tree_.end() && it->second.layer < layer) tree_.erase(it);
    }
    std::string prefix = path == "/" ? "/" : path + "/";
    for (auto it = tree_.lower_bound(prefix);
         it != tree_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      it = it->second.layer < layer ? tree_.erase(it) : std::next(it);
    }
  }

  // The layer's own tree, as unpacking it alone into an empty directory
  // (the `full` mode, oci/unpack.h) leaves it: what each path of that
  // directory is. The merged tree is that directory stacked by overlayfs
  // on the lower layers' ones, so resolving paths in this view is what
  // keeps the two modes showing one tree.
  struct ViewNode {
    EntryType type = EntryType::kDirectory;
    bool whiteout = false;  // a 0:0 character device: hides lower layers
    std::string symlink_target;
  };

  void RemoveFromView(const std::string& path) {
    view_.erase(path);
    const std::string below = path == "/" ? "/" : path + "/";
    for (auto it = view_.lower_bound(below); it != view_.end() && it->first.starts_with(below);) {
      it = view_.erase(it);
    }
  }

  static std::string Join(const std::string& dir, std::string_view name) {
    return (dir == "/" ? "" : dir) + "/" + std::string(name);
  }

  // A directory the layer implies (a parent no entry names): 0755, root's,
  // mtime 0, as the unpacker makes it. Over a lower directory it merges,
  // with its own attributes (overlayfs shows the upper one's).
  void MakeImpliedDirectory(const std::string& path, uint32_t layer) {
    view_[path] = ViewNode{};
    auto it = tree_.find(path);
    if (it != tree_.end() && it->second.entry.type != EntryType::kDirectory) {
      tree_.erase(it);
      it = tree_.end();
    }
    Node& dir = it == tree_.end() ? tree_[path] : it->second;
    dir.entry = Entry{};
    dir.entry.path = path;
    dir.entry.mode = 0755;
    dir.layer = layer;
  }

  // Where the directory `dir` of this layer is, resolved as the kernel
  // resolves a path inside the layer's directory (RESOLVE_IN_ROOT): each
  // component that is a symlink of this layer is followed (an absolute
  // target from the root, ".." never above it); a symlink of a lower layer
  // is not there when the layer is unpacked alone. Missing directories are
  // made when `create`, else kNotFound.
  Result<std::string> DirectoryOf(const std::string& dir, uint32_t layer, bool create) {
    std::deque<std::string> pending;
    for (std::string_view c : SplitPath(dir)) pending.emplace_back(c);
    std::string cur = "/";
    int links = 0;
    while (!pending.empty()) {
      const std::string comp = std::move(pending.front());
      pending.pop_front();
      if (comp == ".") continue;
      if (comp == "..") {
        cur = DirName(cur);
        continue;
      }
      const std::string next = Join(cur, comp);
      auto v = view_.find(next);
      if (v == view_.end()) {
        if (!create) return NotFound(next + " is not in this layer");
        MakeImpliedDirectory(next, layer);
        cur = next;
      } else if (v->second.type == EntryType::kDirectory && !v->second.whiteout) {
        cur = next;
      } else if (v->second.type == EntryType::kSymlink) {
        if (++links > 40) return Corruption("too many levels of symlinks in '" + dir + "'");
        const std::string& target = v->second.symlink_target;
        std::vector<std::string_view> parts = SplitPath(target);
        pending.insert(pending.begin(), parts.begin(), parts.end());
        if (target.starts_with("/")) cur = "/";
      } else {
        return Corruption("tar entry path '" + dir + "' runs through a non-directory");
      }
    }
    return cur;
  }

  // This layer hides `path` (an OCI whiteout, or a 0:0 character device as
  // overlayfs reads one): lower layers' entries there go, and this layer's
  // own (the unpacker replaces them with the whiteout device).
  void Whiteout(const std::string& path, uint32_t layer) {
    RemoveSubtree(path, layer + 1, /*keep_self=*/false);
    RemoveFromView(path);
    view_[path] = ViewNode{EntryType::kCharDevice, true, ""};
  }

  // Puts a node at its path, replacing what was there; a directory over a
  // directory keeps the children.
  void Place(Node node) {
    const std::string path = node.entry.path;
    auto it = tree_.find(path);
    if (it != tree_.end()) {
      bool dir_over_dir = it->second.entry.type == EntryType::kDirectory &&
                          node.entry.type == EntryType::kDirectory;
      if (!dir_over_dir) RemoveSubtree(path, UINT32_MAX, /*keep_self=*/true);
    }
    auto v = view_.find(path);
    if (v != view_.end() && !(v->second.type == EntryType::kDirectory && !v->second.whiteout &&
                              node.entry.type == EntryType::kDirectory)) {
      RemoveFromView(path);
    }
    view_[path] = ViewNode{node.entry.type, false, node.entry.symlink_target};
    tree_[path] = std::move(node);
  }

  Status ReadLayer(uint32_t layer) {
    const BuildLayer& input = options_.layers[layer];
    ASSIGN_OR_RETURN(StreamCompression compression, CompressionOf(input.descriptor));
    ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(input.blob_path, O_RDONLY));
    FdReader file(fd.get(), input.blob_path);
    HashingReader compressed(&file);
    ASSIGN_OR_RETURN(std::unique_ptr<IndexingReader> indexing,
                     IndexingReader::Create(compression, &compressed, options_.checkpoint_span));
    HashingReader plain(indexing.get());
    oci::TarReader tar(&plain);
    // The layer's own directory starts empty; its root is implied unless
    // the layer names it, and the top layer's root is the merged one.
    view_.clear();
    view_["/"] = ViewNode{};
    MakeImpliedDirectory("/", layer);
    for (;;) {
      ASSIGN_OR_RETURN(std::optional<oci::TarEntry> entry, tar.Next());
      if (!entry) break;
      RETURN_IF_ERROR(AddEntry(layer, *entry, &tar));
    }
    RETURN_IF_ERROR(Drain(plain).status());
    ASSIGN_OR_RETURN(LayerIndex index, indexing->TakeIndex());
    std::string blob_digest = "sha256:" + compressed.FinalHex();
    if (blob_digest != input.descriptor.digest.ToString()) {
      return Corruption("layer blob " + input.blob_path + " hashes to " + blob_digest + ", not " +
                        input.descriptor.digest.ToString());
    }
    if (static_cast<int64_t>(compressed.bytes()) != input.descriptor.size) {
      return Corruption("layer blob has " + std::to_string(compressed.bytes()) +
                        " bytes, the manifest says " + std::to_string(input.descriptor.size));
    }
    std::string diff_id = "sha256:" + plain.FinalHex();
    if (diff_id != input.diff_id.ToString()) {
      return Corruption("uncompressed layer hashes to " + diff_id + ", the config says " +
                        input.diff_id.ToString());
    }
    LayerInfo info;
    info.digest = blob_digest;
    info.diff_id = diff_id;
    info.media_type = input.descriptor.media_type;
    info.compressed_size = index.compressed_size;
    info.uncompressed_size = index.uncompressed_size;
    info.access = index.access;
    report_.access_points += index.points.size();
    metadata_.layers.push_back(std::move(info));
    indexes_.push_back(std::move(index));
    return Status::Ok();
  }

  Status AddEntry(uint32_t layer, const oci::TarEntry& te, oci::TarReader* tar) {
    ASSIGN_OR_RETURN(std::string rel, oci::SanitizeEntryPath(te.name));
    std::string path = "/";
    if (!rel.empty()) {
      const std::string lexical = "/" + rel;
      const std::string base = BaseName(lexical);
      ASSIGN_OR_RETURN(std::string parent, DirectoryOf(DirName(lexical), layer, /*create=*/true));
      if (base.starts_with(kWhiteoutPrefix)) {
        if (base == kOpaqueMarker) {
          RemoveSubtree(parent, layer, /*keep_self=*/true);
        } else if (!base.starts_with(kAufsPrefix)) {  // aufs metadata: ignored
          const std::string hidden = base.substr(kWhiteoutPrefix.size());
          if (hidden == "." || hidden == "..") {
            return Corruption("invalid whiteout entry '" + te.name + "'");
          }
          Whiteout(Join(parent, hidden), layer);
        }
        return Status::Ok();
      }
      path = Join(parent, base);
    }
    if (te.type == oci::TarType::kCharDevice && te.devmajor == 0 && te.devminor == 0 &&
        path != "/") {
      Whiteout(path, layer);
      return Status::Ok();
    }
    if (te.uid < 0 || te.uid > UINT32_MAX || te.gid < 0 || te.gid > UINT32_MAX) {
      return Corruption("owner of " + path + " out of range");
    }
    Node node;
    node.layer = layer;
    Entry& e = node.entry;
    e.path = path;
    e.mode = te.mode & 07777;
    e.uid = static_cast<uint32_t>(te.uid);
    e.gid = static_cast<uint32_t>(te.gid);
    e.mtime_sec = te.mtime_sec;
    e.mtime_nsec = te.mtime_nsec < 1000000000u ? te.mtime_nsec : 0;
    for (const auto& [name, value] : te.xattrs) {
      if (!oci::IsOverlayPrivateXattr(name)) e.xattrs.push_back({name, value});
    }
    switch (te.type) {
      case oci::TarType::kDirectory:
        e.type = EntryType::kDirectory;
        break;
      case oci::TarType::kSymlink:
        e.type = EntryType::kSymlink;
        e.symlink_target = te.linkname;
        if (e.symlink_target.empty()) return Corruption("symlink " + path + " has no target");
        break;
      case oci::TarType::kCharDevice:
      case oci::TarType::kBlockDevice:
        e.type =
            te.type == oci::TarType::kCharDevice ? EntryType::kCharDevice : EntryType::kBlockDevice;
        e.rdev_major = te.devmajor;
        e.rdev_minor = te.devminor;
        break;
      case oci::TarType::kFifo:
        e.type = EntryType::kFifo;
        break;
      case oci::TarType::kHardLink: {
        ASSIGN_OR_RETURN(Entry linked, HardLinkTarget(layer, te));
        linked.path = path;  // one inode: same attributes
        node.entry = std::move(linked);
        break;
      }
      case oci::TarType::kRegular:
        e.type = EntryType::kRegular;
        ASSIGN_OR_RETURN(e.content, ReadContent(layer, path, te, tar));
        break;
    }
    if (path == "/" && e.type != EntryType::kDirectory) {
      return Corruption("layer replaces / with a non-directory");
    }
    Place(std::move(node));
    return Status::Ok();
  }

  // The file a hard link of this layer names, found as the unpacker's
  // link(2) finds it: its directory resolved in the layer, itself not
  // followed.
  Result<Entry> HardLinkTarget(uint32_t layer, const oci::TarEntry& te) {
    auto missing = [&] {
      return Corruption("hard link " + te.name + " points to " + te.linkname +
                        ", which is not a file of this layer");
    };
    ASSIGN_OR_RETURN(std::string rel, oci::SanitizeEntryPath(te.linkname));
    if (rel.empty()) return missing();
    auto dir = DirectoryOf(DirName("/" + rel), layer, /*create=*/false);
    if (!dir.ok()) return dir.status().code() == StatusCode::kNotFound ? missing() : dir.status();
    const std::string target = Join(*dir, BaseName("/" + rel));
    auto v = view_.find(target);
    auto t = tree_.find(target);
    if (v == view_.end() || v->second.whiteout || t == tree_.end()) return missing();
    if (t->second.entry.type != EntryType::kRegular) {
      return Unimplemented("hard link " + te.name + " points to " + te.linkname + ", a " +
                           std::string(EntryTypeName(t->second.entry.type)) +
                           ": runtime images link regular files only");
    }
    return t->second.entry;
  }

  // Hashes a regular file's data and copies its traced ranges aside.
  Result<uint32_t> ReadContent(uint32_t layer, const std::string& path, const oci::TarEntry& te,
                               oci::TarReader* tar) {
    ContentRef ref;
    ref.layer = layer;
    ref.tar_offset = static_cast<uint64_t>(te.data_offset);
    ref.size = static_cast<uint64_t>(te.size);
    auto traced = traced_.find(path);
    const ByteRanges* ranges = traced == traced_.end() ? nullptr : &traced->second.ranges;
    Sha256 hash;
    // Files larger than a piece get a digest per piece too.
    const uint64_t piece_size = options_.piece_size;
    const bool in_pieces = ref.size > piece_size;
    Sha256 piece;
    std::vector<char> buf(1 << 20);
    uint64_t pos = 0;
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, tar->ReadData(buf));
      if (n == 0) break;
      hash.Update(buf.data(), n);
      for (uint64_t at = pos; in_pieces && at < pos + n;) {
        const uint64_t piece_end = std::min((at / piece_size + 1) * piece_size, ref.size);
        const uint64_t take = std::min(piece_end, pos + n) - at;
        piece.Update(buf.data() + (at - pos), take);
        at += take;
        if (at == piece_end) ref.pieces.push_back(piece.Final());
      }
      if (ranges != nullptr) {
        for (const auto& [begin, end] : *ranges) {
          uint64_t lo = std::max(begin, pos);
          uint64_t hi = std::min(end, pos + n);
          if (lo >= hi) continue;
          RETURN_IF_ERROR(WriteAll(spill_.get(),
                                   std::span<const char>(buf.data() + (lo - pos), hi - lo),
                                   "runtime image spill file"));
          ref.spilled.push_back({lo, hi - lo, spill_size_});
          spill_size_ += hi - lo;
        }
      }
      pos += n;
    }
    if (pos != ref.size) return Corruption("file " + path + " is shorter than its header says");
    ref.digest = hash.Final();
    contents_.push_back(std::move(ref));
    return static_cast<uint32_t>(contents_.size() - 1);
  }

  // Bytes [begin, end) of a file version: from the spill file, or (for a
  // version read under another name, such as a hard link) decompressed from
  // the local blob through the index just built.
  Result<std::string> ReadTraced(const ContentRef& ref, uint64_t begin, uint64_t end) {
    std::string out;
    out.reserve(end - begin);
    uint64_t pos = begin;
    for (const SpillPiece& piece : ref.spilled) {
      if (piece.file_offset > pos || piece.file_offset + piece.length <= pos) continue;
      uint64_t take = std::min(end, piece.file_offset + piece.length) - pos;
      size_t old = out.size();
      out.resize(old + take);
      ASSIGN_OR_RETURN(size_t got, ReadFullAt(spill_.get(), std::span<char>(out.data() + old, take),
                                              piece.spill_offset + (pos - piece.file_offset),
                                              "runtime image spill file"));
      if (got != take) return Internal("runtime image spill file is short");
      pos += take;
      if (pos == end) return out;
    }
    const LayerIndex& index = indexes_[ref.layer];
    const BuildLayer& layer = options_.layers[ref.layer];
    uint64_t offset = ref.tar_offset + pos;
    ASSIGN_OR_RETURN(RangePlan plan, PlanRange(index, offset, end - pos));
    ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(layer.blob_path, O_RDONLY));
    std::string compressed(plan.compressed_end - plan.compressed_begin, '\0');
    ASSIGN_OR_RETURN(size_t got,
                     ReadFullAt(fd.get(), compressed, plan.compressed_begin, layer.blob_path));
    if (got != compressed.size()) return Corruption(layer.blob_path + " is truncated");
    ASSIGN_OR_RETURN(std::string rest, ExtractRange(index, plan, compressed, offset, end - pos));
    out += rest;
    return out;
  }

  // Turns the merged tree into metadata entries and contents, and plans the
  // traced extents in first-access order.
  Status Assemble() {
    std::unordered_map<uint32_t, uint32_t> content_index;  // contents_ -> metadata
    for (auto& [path, node] : tree_) {
      Entry e = node.entry;
      if (e.type == EntryType::kRegular) {
        auto [it, inserted] = content_index.emplace(e.content, metadata_.contents.size());
        if (inserted) {
          const ContentRef& ref = contents_[e.content];
          FileContent c;
          c.size = ref.size;
          c.digest = ref.digest;
          c.pieces = ref.pieces;
          c.layer = ref.layer;
          c.tar_offset = ref.tar_offset;
          metadata_.contents.push_back(std::move(c));
          content_source_.push_back(e.content);
          report_.image_bytes += ref.size;
        }
        e.content = it->second;
        ++report_.regular_files;
      } else {
        e.content = kNoContent;
      }
      metadata_.entries.push_back(std::move(e));
    }
    report_.entries = metadata_.entries.size();

    std::vector<std::pair<uint64_t, std::string>> order;
    for (const auto& [path, t] : traced_) order.emplace_back(t.first_access_ns, path);
    std::sort(order.begin(), order.end());
    std::vector<bool> planned(metadata_.contents.size(), false);
    for (const auto& [ns, path] : order) {
      int64_t at = metadata_.Find(path);
      if (at < 0 || metadata_.entries[at].type != EntryType::kRegular) {
        ++report_.skipped_files;
        if (report_.skipped_examples.size() < kSkippedExamples) {
          report_.skipped_examples.push_back(path);
        }
        continue;
      }
      ++report_.traced_files;
      uint32_t content = metadata_.entries[at].content;
      if (planned[content]) continue;
      planned[content] = true;
      plan_.push_back({content, traced_[path].ranges});
    }
    return Status::Ok();
  }

  Status WriteBlob() {
    std::string blob_tmp = JoinPath(options_.output_dir, ".blob.tmp");
    ASSIGN_OR_RETURN(UniqueFd blob, UniqueFd::Open(blob_tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
    Sha256 blob_hash;
    std::map<Sha256Bytes, uint32_t> chunk_by_digest;
    const uint64_t span = options_.chunk_span;
    for (const PlannedFile& file : plan_) {
      FileContent& content = metadata_.contents[file.content];
      const ContentRef& ref = contents_[content_source_[file.content]];
      for (auto [begin, end] : file.ranges) {
        end = std::min(end, content.size);
        if (begin >= end) continue;
        report_.traced_bytes += end - begin;
        for (uint64_t a = begin; a < end;) {
          uint64_t b = std::min(end, (a / span + 1) * span);
          ASSIGN_OR_RETURN(std::string data, ReadTraced(ref, a, b));
          Sha256Bytes digest = Sha256::Of(data);
          auto [it, inserted] = chunk_by_digest.emplace(digest, metadata_.chunks.size());
          if (inserted) {
            // Packed, each chunk compressed on its own (where that helps),
            // so that any run of chunks can be fetched by range.
            const std::string stored = options_.chunk_compression_level > 0
                                           ? EncodeChunk(data, options_.chunk_compression_level)
                                           : data;
            RETURN_IF_ERROR(WriteAll(blob.get(), std::string_view(stored), blob_tmp));
            blob_hash.Update(stored);
            metadata_.chunks.push_back({digest, blob_size_, static_cast<uint32_t>(data.size()),
                                        static_cast<uint32_t>(stored.size())});
            blob_size_ += stored.size();
            report_.chunk_bytes += data.size();
            if (stored.size() != data.size()) ++report_.compressed_chunks;
          } else {
            ++report_.duplicate_chunks;
          }
          content.extents.push_back({a, static_cast<uint32_t>(b - a), it->second});
          ++report_.extents;
          a = b;
        }
      }
    }
    if (fsync(blob.get()) != 0) return ErrnoStatus(errno, "fsync", blob_tmp);
    blob.Reset();
    std::string blob_path = JoinPath(options_.output_dir, kBlobFile);
    if (rename(blob_tmp.c_str(), blob_path.c_str()) != 0)
      return ErrnoStatus(errno, "rename", blob_path);
    metadata_.blob_size = blob_size_;
    metadata_.blob_digest = "sha256:" + blob_hash.FinalHex();
    report_.chunks = metadata_.chunks.size();
    report_.blob_bytes = blob_size_;
    return Status::Ok();
  }

  Status WriteFiles() {
    std::string index = EncodeLayerIndexes(indexes_);
    metadata_.index_digest = "sha256:" + Sha256::HexOf(index);
    metadata_.image_digest = options_.image_digest;
    metadata_.image_reference = options_.image_reference;
    metadata_.chunk_span = options_.chunk_span;
    metadata_.piece_size = options_.piece_size;
    metadata_.traced_bytes = report_.traced_bytes;
    std::string metadata = EncodeMetadata(metadata_);
    // Catch a builder bug here rather than on a node.
    RETURN_IF_ERROR(DecodeMetadata(metadata).status());
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(options_.output_dir, kIndexFile), index, 0600, true));
    RETURN_IF_ERROR(
        WriteFileAtomic(JoinPath(options_.output_dir, kMetadataFile), metadata, 0600, true));
    report_.metadata_bytes = metadata.size();
    report_.index_bytes = index.size();
    return Status::Ok();
  }

  struct PlannedFile {
    uint32_t content;  // index into metadata_.contents
    ByteRanges ranges;
  };

  const BuildOptions& options_;
  std::map<std::string, TracedPath> traced_;
  std::map<std::string, Node> tree_;      // merged root, by absolute path
  std::map<std::string, ViewNode> view_;  // the layer being read, alone
  std::vector<ContentRef> contents_;      // every file version read
  std::vector<uint32_t> content_source_;  // metadata content -> contents_
  std::vector<LayerIndex> indexes_;
  std::vector<PlannedFile> plan_;
  UniqueFd spill_;
  uint64_t spill_size_ = 0;
  uint64_t blob_size_ = 0;
  Metadata metadata_;
  BuildReport report_;
};

std::string Share(uint64_t part, uint64_t whole) {
  if (whole == 0) return "0.0%";
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f%%",
           100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buf;
}

}  // namespace

Result<BuildReport> BuildRuntimeImage(const BuildOptions& options) {
  Builder builder(options);
  return builder.Run();
}

std::string FormatBuildReport(const BuildReport& r) {
  std::string out;
  auto line = [&out](std::string_view name, const std::string& value) {
    out += std::string(name);
    out.append(name.size() < 18 ? 18 - name.size() : 1, ' ');
    out += value + "\n";
  };
  line("entries", std::to_string(r.entries) + " (" + std::to_string(r.regular_files) + " files, " +
                      std::to_string(r.image_bytes) + " bytes)");
  line("traced files", std::to_string(r.traced_files) + " in the image, " +
                           std::to_string(r.skipped_files) + " elsewhere");
  line("traced bytes", std::to_string(r.traced_bytes));
  line("extents", std::to_string(r.extents) + " in " + std::to_string(r.chunks) + " chunks (" +
                      std::to_string(r.duplicate_chunks) + " duplicates stored once)");
  line("blob bytes", std::to_string(r.blob_bytes) + " (" + Share(r.blob_bytes, r.image_bytes) +
                         " of the image's file bytes; " + std::to_string(r.chunk_bytes) +
                         " bytes of chunks, " + std::to_string(r.compressed_chunks) +
                         " of them zstd-compressed)");
  line("metadata bytes", std::to_string(r.metadata_bytes));
  line("index bytes",
       std::to_string(r.index_bytes) + " (" + std::to_string(r.access_points) + " access points)");
  return out;
}

}  // namespace syspgo::rtimage
