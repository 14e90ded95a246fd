// SPDX-License-Identifier: Apache-2.0
#include "fs/file_data.h"

#include <algorithm>

namespace syspgo::fs {

Status FileData::ReadInto(uint32_t content, uint64_t offset, std::string* out, bool* missed) {
  const rtimage::FileContent& c = tree_->metadata().contents[content];
  const uint64_t end = offset + out->size();
  auto fallback = [&](uint64_t from, uint64_t to) -> Status {
    *missed = true;
    ASSIGN_OR_RETURN(std::string bytes, fallback_->Read(content, from, to - from));
    if (bytes.size() != to - from) {
      return Corruption("fallback read of " + std::to_string(to - from) + " bytes at " +
                        std::to_string(from) + " returned " + std::to_string(bytes.size()));
    }
    out->replace(from - offset, bytes.size(), bytes);
    counters_.bytes_fallback += static_cast<int64_t>(bytes.size());
    return Status::Ok();
  };
  uint64_t pos = offset;
  if (page_cache_ != nullptr) {
    // The first extent that ends after `offset`.
    auto it = std::upper_bound(
        c.extents.begin(), c.extents.end(), offset,
        [](uint64_t o, const rtimage::Extent& e) { return o < e.file_offset + e.length; });
    for (; it != c.extents.end() && pos < end; ++it) {
      if (it->file_offset > pos) {
        const uint64_t gap_end = std::min(end, it->file_offset);
        RETURN_IF_ERROR(fallback(pos, gap_end));
        pos = gap_end;
        if (pos >= end) break;
      }
      const uint64_t to = std::min(end, it->file_offset + it->length);
      auto chunk = page_cache_->ReadChunk(it->chunk);
      if (chunk.ok()) {
        out->replace(pos - offset, to - pos, *chunk, pos - it->file_offset, to - pos);
        counters_.bytes_runtime_image += static_cast<int64_t>(to - pos);
      } else {
        if (log_)
          log_->Debug("chunk " + std::to_string(it->chunk) + ": " + chunk.status().message() +
                      "; reading from the layer");
        RETURN_IF_ERROR(fallback(pos, to));
      }
      pos = to;
    }
  }
  if (pos < end) RETURN_IF_ERROR(fallback(pos, end));
  return Status::Ok();
}

Result<std::string> FileData::Read(uint32_t content, uint64_t offset, uint64_t length) {
  ++counters_.reads;
  const rtimage::FileContent& c = tree_->metadata().contents[content];
  if (offset >= c.size) return std::string();
  std::string out(std::min(length, c.size - offset), '\0');
  bool missed = false;
  Status st = ReadInto(content, offset, &out, &missed);
  if (missed) {
    ++counters_.misses;
    std::lock_guard<std::mutex> lock(mu_);
    ++misses_by_content_[content];
  }
  if (!st.ok()) {
    ++counters_.errors;
    if (log_) {
      // A read cut short because fetching stopped (the start is over) is
      // no error of the image's.
      const std::string what = "reading " +
                               tree_->metadata().entries[tree_->EntryOfContent(content)].path +
                               " at " + std::to_string(offset) + ": " + st.message();
      if (st.code() == StatusCode::kCancelled) {
        log_->Debug(what);
      } else {
        log_->Error(what);
      }
    }
    return st;
  }
  return out;
}

std::map<std::string, int64_t> FileData::MissesByFile() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int64_t> out;
  for (const auto& [content, n] : misses_by_content_) {
    out[tree_->metadata().entries[tree_->EntryOfContent(content)].path] += n;
  }
  return out;
}

}  // namespace syspgo::fs
