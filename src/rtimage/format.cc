// SPDX-License-Identifier: Apache-2.0
#include "rtimage/format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include <zstd.h>

#include "common/byte_codec.h"
#include "common/file_util.h"

namespace syspgo::rtimage {
namespace {

constexpr FileFrame kFrame{"SPGORTM\n", kMetadataVersion, "runtime image metadata",
                           kOldestMetadataVersion};
constexpr size_t kMaxMetadataBytes = size_t{1} << 30;

Status ReadDigest(LeDecoder& d, Sha256Bytes* out) {
  std::string raw;
  RETURN_IF_ERROR(d.Raw(out->size(), &raw));
  std::memcpy(out->data(), raw.data(), out->size());
  return Status::Ok();
}

std::string_view DigestView(const Sha256Bytes& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// "/", or "/a/b" with no empty, "." or ".." component and no trailing '/'.
bool CleanAbsolutePath(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  if (path == "/") return true;
  if (path.back() == '/' || path.find('\0') != std::string_view::npos) return false;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    if (part.empty() || part == "." || part == "..") return false;
    pos = end + 1;
  }
  return true;
}

bool IsDigestString(std::string_view s) {
  if (s.size() != 71 || s.substr(0, 7) != "sha256:") return false;
  return std::all_of(s.begin() + 7, s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Status ValidateLayers(const Metadata& m, const LeDecoder& d) {
  for (const LayerInfo& l : m.layers) {
    if (!IsDigestString(l.digest) || !IsDigestString(l.diff_id)) {
      return d.Bad("layer digest is not a sha256 digest");
    }
    if (l.access > LayerAccess::kWholeFetch) {
      return d.Bad("unknown layer access kind " + std::to_string(static_cast<int>(l.access)));
    }
    if (l.access == LayerAccess::kUncompressed && l.compressed_size != l.uncompressed_size) {
      return d.Bad("uncompressed layer " + l.digest + " has two sizes");
    }
  }
  return Status::Ok();
}

// Version 2 chunks are stored whole at page-aligned offsets; version 3
// chunks are packed and may be compressed (never larger than the bytes).
Status ValidateChunks(const Metadata& m, const LeDecoder& d, uint32_t version) {
  uint64_t end = 0;
  for (size_t i = 0; i < m.chunks.size(); ++i) {
    const Chunk& c = m.chunks[i];
    if (c.length == 0 || c.length > m.chunk_span || c.stored == 0 || c.stored > c.length) {
      return d.Bad("chunk " + std::to_string(i) + " has a bad length");
    }
    if ((version < 3 && c.blob_offset % m.page_size != 0) || c.blob_offset < end ||
        c.blob_offset > m.blob_size || m.blob_size - c.blob_offset < c.stored) {
      return d.Bad("chunk " + std::to_string(i) + " lies outside the blob or overlaps");
    }
    end = c.blob_offset + c.stored;
  }
  return Status::Ok();
}

Status ValidateContents(const Metadata& m, const LeDecoder& d) {
  for (size_t i = 0; i < m.contents.size(); ++i) {
    const FileContent& c = m.contents[i];
    if (c.layer >= m.layers.size()) return d.Bad("file content names a missing layer");
    const LayerInfo& layer = m.layers[c.layer];
    if (c.tar_offset > layer.uncompressed_size || layer.uncompressed_size - c.tar_offset < c.size) {
      return d.Bad("file content lies outside its layer");
    }
    const uint64_t pieces = c.size <= m.piece_size ? 0 : (c.size - 1) / m.piece_size + 1;
    if (c.pieces.size() != pieces) {
      return d.Bad("file content of " + std::to_string(c.size) + " bytes has " +
                   std::to_string(c.pieces.size()) + " piece digests, not " +
                   std::to_string(pieces));
    }
    uint64_t next = 0;
    for (const Extent& e : c.extents) {
      if (e.length == 0 || e.file_offset < next || e.file_offset > c.size ||
          c.size - e.file_offset < e.length) {
        return d.Bad("extent outside its file or out of order");
      }
      if (e.chunk >= m.chunks.size() || m.chunks[e.chunk].length != e.length) {
        return d.Bad("extent names a missing or differently sized chunk");
      }
      next = e.file_offset + e.length;
    }
  }
  return Status::Ok();
}

Status ValidateEntries(const Metadata& m, const LeDecoder& d) {
  if (m.entries.empty() || m.entries[0].path != "/" || m.entries[0].type != EntryType::kDirectory) {
    return d.Bad("the first entry is not the root directory");
  }
  std::unordered_map<std::string_view, EntryType> seen;
  seen.reserve(m.entries.size());
  std::vector<bool> content_used(m.contents.size(), false);
  for (size_t i = 0; i < m.entries.size(); ++i) {
    const Entry& e = m.entries[i];
    if (!CleanAbsolutePath(e.path)) return d.Bad("entry path is not clean");
    if (i > 0) {
      if (e.path <= m.entries[i - 1].path)
        return d.Bad("entries not sorted or repeated: " + e.path);
      auto parent = seen.find(DirName(e.path));
      if (parent == seen.end() || parent->second != EntryType::kDirectory) {
        return d.Bad("parent of " + e.path + " is not a directory");
      }
    }
    if (e.type > EntryType::kFifo) return d.Bad("unknown entry type");
    if (e.mode > 07777) return d.Bad("mode of " + e.path + " out of range");
    if (e.mtime_nsec >= 1000000000u) return d.Bad("mtime nanoseconds out of range");
    if (e.type == EntryType::kRegular) {
      if (e.content >= m.contents.size()) return d.Bad("file " + e.path + " has no content");
      content_used[e.content] = true;
    } else if (e.content != kNoContent) {
      return d.Bad("non-regular entry " + e.path + " has content");
    }
    if ((e.type == EntryType::kSymlink) == e.symlink_target.empty()) {
      return d.Bad("symlink target of " + e.path + " is malformed");
    }
    seen.emplace(e.path, e.type);
  }
  if (std::find(content_used.begin(), content_used.end(), false) != content_used.end()) {
    return d.Bad("a file content belongs to no entry");
  }
  return Status::Ok();
}

}  // namespace

std::string DigestString(const Sha256Bytes& d) { return "sha256:" + Sha256::ToHex(d); }

std::string_view EntryTypeName(EntryType type) {
  switch (type) {
    case EntryType::kDirectory:
      return "directory";
    case EntryType::kRegular:
      return "file";
    case EntryType::kSymlink:
      return "symlink";
    case EntryType::kCharDevice:
      return "char-device";
    case EntryType::kBlockDevice:
      return "block-device";
    case EntryType::kFifo:
      return "fifo";
  }
  return "?";
}

std::string_view LayerAccessName(LayerAccess access) {
  switch (access) {
    case LayerAccess::kUncompressed:
      return "uncompressed";
    case LayerAccess::kGzipCheckpoints:
      return "gzip-checkpoints";
    case LayerAccess::kZstdFrames:
      return "zstd-frames";
    case LayerAccess::kWholeFetch:
      return "whole-fetch";
  }
  return "?";
}

uint64_t Metadata::ExtentBytes() const {
  uint64_t n = 0;
  for (const FileContent& c : contents) {
    for (const Extent& e : c.extents) n += e.length;
  }
  return n;
}

uint64_t Metadata::RegularBytes() const {
  uint64_t n = 0;
  for (const FileContent& c : contents) n += c.size;
  return n;
}

int64_t Metadata::Find(std::string_view path) const {
  auto it = std::lower_bound(entries.begin(), entries.end(), path,
                             [](const Entry& e, std::string_view p) { return e.path < p; });
  if (it == entries.end() || it->path != path) return -1;
  return it - entries.begin();
}

std::string EncodeMetadata(const Metadata& m, uint32_t version) {
  FileFrame frame = kFrame;
  frame.version = std::clamp(version, kOldestMetadataVersion, kMetadataVersion);
  LeEncoder w = BeginFrame(frame);
  w.Str(m.image_digest);
  w.Str(m.image_reference);
  w.U32(static_cast<uint32_t>(m.sources.size()));
  for (const std::string& s : m.sources) w.Str(s);
  w.U32(m.page_size);
  w.U32(m.chunk_span);
  w.U32(m.piece_size);
  w.U64(m.blob_size);
  w.Str(m.blob_digest);
  w.Str(m.index_digest);
  w.U64(m.traced_bytes);
  w.U32(static_cast<uint32_t>(m.layers.size()));
  for (const LayerInfo& l : m.layers) {
    w.Str(l.digest);
    w.Str(l.diff_id);
    w.Str(l.media_type);
    w.U64(l.compressed_size);
    w.U64(l.uncompressed_size);
    w.U8(static_cast<uint8_t>(l.access));
  }
  w.U32(static_cast<uint32_t>(m.chunks.size()));
  for (const Chunk& c : m.chunks) {
    w.Raw(DigestView(c.digest));
    w.U64(c.blob_offset);
    w.U32(c.length);
    if (frame.version >= 3) w.U32(c.stored);
  }
  w.U32(static_cast<uint32_t>(m.contents.size()));
  for (const FileContent& c : m.contents) {
    w.U64(c.size);
    w.Raw(DigestView(c.digest));
    w.U32(static_cast<uint32_t>(c.pieces.size()));
    for (const Sha256Bytes& piece : c.pieces) w.Raw(DigestView(piece));
    w.U32(c.layer);
    w.U64(c.tar_offset);
    w.U32(static_cast<uint32_t>(c.extents.size()));
    for (const Extent& e : c.extents) {
      w.U64(e.file_offset);
      w.U32(e.length);
      w.U32(e.chunk);
    }
  }
  w.U32(static_cast<uint32_t>(m.entries.size()));
  for (const Entry& e : m.entries) {
    w.Str(e.path);
    w.U8(static_cast<uint8_t>(e.type));
    w.U32(e.mode);
    w.U32(e.uid);
    w.U32(e.gid);
    w.I64(e.mtime_sec);
    w.U32(e.mtime_nsec);
    w.U32(e.rdev_major);
    w.U32(e.rdev_minor);
    w.Str(e.symlink_target);
    w.U32(e.content);
    w.U32(static_cast<uint32_t>(e.xattrs.size()));
    for (const Xattr& x : e.xattrs) {
      w.Str(x.name);
      w.Str(x.value);
    }
  }
  return EndFrame(w);
}

Result<Metadata> DecodeMetadata(std::string_view data) {
  uint32_t version = 0;
  auto frame = OpenFrame(data, kFrame, &version);
  if (!frame.ok() && frame.status().code() == StatusCode::kUnimplemented) {
    // Version 1 had one digest per file: a read of part of a large file
    // could not be checked. Such runtime images are not used.
    return frame.status().WithContext(
        "this runtime image was made by an older syspgo; rebuild it (`syspgo image optimize`)");
  }
  ASSIGN_OR_RETURN(LeDecoder d, std::move(frame));
  Metadata m;
  RETURN_IF_ERROR(d.Str(&m.image_digest));
  if (!IsDigestString(m.image_digest)) return d.Bad("image digest is not a sha256 digest");
  RETURN_IF_ERROR(d.Str(&m.image_reference));
  uint32_t n = 0;
  RETURN_IF_ERROR(d.Count(&n, 4, "source"));
  m.sources.resize(n);
  for (std::string& s : m.sources) RETURN_IF_ERROR(d.Str(&s));
  RETURN_IF_ERROR(d.U32(&m.page_size));
  RETURN_IF_ERROR(d.U32(&m.chunk_span));
  RETURN_IF_ERROR(d.U32(&m.piece_size));
  if (m.piece_size < kMinPieceSize || m.piece_size > kMaxPieceSize ||
      (m.piece_size & (m.piece_size - 1)) != 0) {
    return d.Bad("piece size " + std::to_string(m.piece_size) +
                 " is not a power of two in [64K, 64M]");
  }
  if (m.page_size < 512 || m.page_size > 65536 || (m.page_size & (m.page_size - 1)) != 0) {
    return d.Bad("page size " + std::to_string(m.page_size) +
                 " is not a power of two in [512, 64K]");
  }
  if (m.chunk_span == 0 || m.chunk_span > kMaxChunkSpan || m.chunk_span % m.page_size != 0) {
    return d.Bad("chunk span " + std::to_string(m.chunk_span) + " is invalid");
  }
  RETURN_IF_ERROR(d.U64(&m.blob_size));
  RETURN_IF_ERROR(d.Str(&m.blob_digest));
  RETURN_IF_ERROR(d.Str(&m.index_digest));
  if (!IsDigestString(m.blob_digest) || !IsDigestString(m.index_digest)) {
    return d.Bad("blob or index digest is not a sha256 digest");
  }
  RETURN_IF_ERROR(d.U64(&m.traced_bytes));

  RETURN_IF_ERROR(d.Count(&n, 29, "layer"));
  m.layers.resize(n);
  for (LayerInfo& l : m.layers) {
    RETURN_IF_ERROR(d.Str(&l.digest));
    RETURN_IF_ERROR(d.Str(&l.diff_id));
    RETURN_IF_ERROR(d.Str(&l.media_type));
    RETURN_IF_ERROR(d.U64(&l.compressed_size));
    RETURN_IF_ERROR(d.U64(&l.uncompressed_size));
    uint8_t access = 0;
    RETURN_IF_ERROR(d.U8(&access));
    l.access = static_cast<LayerAccess>(access);
  }
  RETURN_IF_ERROR(ValidateLayers(m, d));

  RETURN_IF_ERROR(d.Count(&n, version >= 3 ? 48 : 44, "chunk"));
  m.chunks.resize(n);
  for (Chunk& c : m.chunks) {
    RETURN_IF_ERROR(ReadDigest(d, &c.digest));
    RETURN_IF_ERROR(d.U64(&c.blob_offset));
    RETURN_IF_ERROR(d.U32(&c.length));
    c.stored = c.length;
    if (version >= 3) RETURN_IF_ERROR(d.U32(&c.stored));
  }
  RETURN_IF_ERROR(ValidateChunks(m, d, version));

  RETURN_IF_ERROR(d.Count(&n, 60, "file content"));
  m.contents.resize(n);
  for (FileContent& c : m.contents) {
    RETURN_IF_ERROR(d.U64(&c.size));
    RETURN_IF_ERROR(ReadDigest(d, &c.digest));
    uint32_t pieces = 0;
    RETURN_IF_ERROR(d.Count(&pieces, 32, "piece digest"));
    c.pieces.resize(pieces);
    for (Sha256Bytes& piece : c.pieces) RETURN_IF_ERROR(ReadDigest(d, &piece));
    RETURN_IF_ERROR(d.U32(&c.layer));
    RETURN_IF_ERROR(d.U64(&c.tar_offset));
    uint32_t extents = 0;
    RETURN_IF_ERROR(d.Count(&extents, 16, "extent"));
    c.extents.resize(extents);
    for (Extent& e : c.extents) {
      RETURN_IF_ERROR(d.U64(&e.file_offset));
      RETURN_IF_ERROR(d.U32(&e.length));
      RETURN_IF_ERROR(d.U32(&e.chunk));
    }
  }
  RETURN_IF_ERROR(ValidateContents(m, d));

  RETURN_IF_ERROR(d.Count(&n, 49, "entry"));
  m.entries.resize(n);
  for (Entry& e : m.entries) {
    RETURN_IF_ERROR(d.Str(&e.path));
    uint8_t type = 0;
    RETURN_IF_ERROR(d.U8(&type));
    e.type = static_cast<EntryType>(type);
    RETURN_IF_ERROR(d.U32(&e.mode));
    RETURN_IF_ERROR(d.U32(&e.uid));
    RETURN_IF_ERROR(d.U32(&e.gid));
    RETURN_IF_ERROR(d.I64(&e.mtime_sec));
    RETURN_IF_ERROR(d.U32(&e.mtime_nsec));
    RETURN_IF_ERROR(d.U32(&e.rdev_major));
    RETURN_IF_ERROR(d.U32(&e.rdev_minor));
    RETURN_IF_ERROR(d.Str(&e.symlink_target));
    RETURN_IF_ERROR(d.U32(&e.content));
    uint32_t xattrs = 0;
    RETURN_IF_ERROR(d.Count(&xattrs, 8, "xattr"));
    e.xattrs.resize(xattrs);
    for (Xattr& x : e.xattrs) {
      RETURN_IF_ERROR(d.Str(&x.name));
      RETURN_IF_ERROR(d.Str(&x.value));
    }
  }
  if (d.left() != 0) return d.Bad("trailing bytes");
  RETURN_IF_ERROR(ValidateEntries(m, d));
  return m;
}

Status VerifyChunk(const Chunk& chunk, uint32_t index, std::string_view data) {
  if (data.size() != chunk.length || Sha256::Of(data) != chunk.digest) {
    return Corruption("chunk " + std::to_string(index) + " (" + DigestString(chunk.digest) +
                      ") of the runtime image failed verification");
  }
  return Status::Ok();
}

Result<std::string> DecodeChunk(const Chunk& chunk, uint32_t index, std::string_view stored) {
  if (stored.size() != chunk.stored) {
    return Corruption("chunk " + std::to_string(index) + " (" + DigestString(chunk.digest) +
                      ") is " + std::to_string(stored.size()) + " bytes in the blob, not " +
                      std::to_string(chunk.stored));
  }
  if (!chunk.compressed()) {
    RETURN_IF_ERROR(VerifyChunk(chunk, index, stored));
    return std::string(stored);
  }
  // Into exactly `length` bytes: a frame that says or makes more fails here
  // (the metadata bounds length by the chunk span), so no frame can make us
  // allocate more than the metadata allowed.
  std::string out(chunk.length, '\0');
  const size_t n = ZSTD_decompress(out.data(), out.size(), stored.data(), stored.size());
  if (ZSTD_isError(n) || n != chunk.length) {
    return Corruption("chunk " + std::to_string(index) + " (" + DigestString(chunk.digest) +
                      ") of the runtime image failed to decompress" +
                      (ZSTD_isError(n) ? std::string(": ") + ZSTD_getErrorName(n)
                                       : std::string(" to its length")));
  }
  RETURN_IF_ERROR(VerifyChunk(chunk, index, out));
  return out;
}

std::string EncodeChunk(std::string_view data, int level) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n) || n > data.size() - data.size() / 8) return std::string(data);
  out.resize(n);
  return out;
}

Result<RuntimeImageDir> RuntimeImageDir::Open(const std::string& dir) {
  RuntimeImageDir image;
  image.dir_ = dir;
  std::string metadata_path = JoinPath(dir, kMetadataFile);
  ASSIGN_OR_RETURN(image.metadata_bytes_, ReadFileToString(metadata_path, kMaxMetadataBytes));
  auto metadata = DecodeMetadata(image.metadata_bytes_);
  if (!metadata.ok()) return metadata.status().WithContext(metadata_path);
  image.metadata_ = std::move(*metadata);

  std::string index_path = JoinPath(dir, kIndexFile);
  ASSIGN_OR_RETURN(image.index_bytes_, ReadFileToString(index_path, kMaxMetadataBytes));
  if ("sha256:" + Sha256::HexOf(image.index_bytes_) != image.metadata_.index_digest) {
    return Corruption(index_path + ": checkpoint index does not match the metadata's digest");
  }

  std::string blob_path = JoinPath(dir, kBlobFile);
  ASSIGN_OR_RETURN(image.blob_, UniqueFd::Open(blob_path, O_RDONLY));
  struct stat st {};
  if (fstat(image.blob_.get(), &st) != 0) return ErrnoStatus(errno, "stat", blob_path);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < image.metadata_.blob_size) {
    return Corruption(blob_path + ": runtime image blob is truncated: " + std::to_string(size) +
                      " of " + std::to_string(image.metadata_.blob_size) + " bytes");
  }
  if (size > image.metadata_.blob_size) {
    return Corruption(blob_path + ": runtime image blob is " + std::to_string(size) +
                      " bytes, the metadata says " + std::to_string(image.metadata_.blob_size));
  }
  return image;
}

Result<std::string> RuntimeImageDir::ReadChunk(uint32_t index) const {
  if (index >= metadata_.chunks.size()) return InvalidArgument("no chunk " + std::to_string(index));
  const Chunk& chunk = metadata_.chunks[index];
  ASSIGN_OR_RETURN(std::string stored, ReadBlob(chunk.blob_offset, chunk.stored));
  return DecodeChunk(chunk, index, stored);
}

Result<std::string> RuntimeImageDir::ReadBlob(uint64_t offset, uint64_t length) const {
  const std::string path = JoinPath(dir_, kBlobFile);
  std::string data(length, '\0');
  ASSIGN_OR_RETURN(size_t got, ReadFullAt(blob_.get(), data, offset, path));
  if (got != data.size()) return Corruption(path + ": runtime image blob is truncated");
  return data;
}

Result<std::string> RuntimeImageDir::ReadFileRange(const FileContent& content, uint64_t offset,
                                                   uint64_t length) const {
  if (offset > content.size || content.size - offset < length) {
    return InvalidArgument("range beyond the end of the file");
  }
  std::string out;
  out.reserve(length);
  uint64_t pos = offset;
  const uint64_t end = offset + length;
  auto it = std::upper_bound(content.extents.begin(), content.extents.end(), pos,
                             [](uint64_t p, const Extent& e) { return p < e.file_offset; });
  if (it != content.extents.begin()) --it;
  for (; pos < end && it != content.extents.end(); ++it) {
    if (it->file_offset + it->length <= pos) continue;
    if (it->file_offset > pos) break;
    ASSIGN_OR_RETURN(std::string chunk, ReadChunk(it->chunk));
    uint64_t from = pos - it->file_offset;
    uint64_t take = std::min<uint64_t>(it->length - from, end - pos);
    out.append(chunk, from, take);
    pos += take;
  }
  if (pos < end) {
    return NotFound("bytes " + std::to_string(pos) + "+ are not in the runtime image");
  }
  return out;
}

Status RuntimeImageDir::VerifyBlob() const {
  // One pass in blob order: padding, then each chunk (checked), then the tail.
  Sha256 whole;
  uint64_t pos = 0;
  for (uint32_t i = 0; i < metadata_.chunks.size(); ++i) {
    const Chunk& chunk = metadata_.chunks[i];
    ASSIGN_OR_RETURN(std::string padding, ReadBlob(pos, chunk.blob_offset - pos));
    ASSIGN_OR_RETURN(std::string stored, ReadBlob(chunk.blob_offset, chunk.stored));
    RETURN_IF_ERROR(DecodeChunk(chunk, i, stored).status());
    whole.Update(padding);
    whole.Update(stored);
    pos = chunk.blob_offset + chunk.stored;
  }
  ASSIGN_OR_RETURN(std::string tail, ReadBlob(pos, metadata_.blob_size - pos));
  whole.Update(tail);
  if ("sha256:" + whole.FinalHex() != metadata_.blob_digest) {
    return Corruption(JoinPath(dir_, kBlobFile) + ": blob digest does not match the metadata");
  }
  return Status::Ok();
}

}  // namespace syspgo::rtimage
