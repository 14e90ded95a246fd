// SPDX-License-Identifier: Apache-2.0
#include "trace/trace_format.h"

#include <algorithm>

#include "common/byte_codec.h"
#include "common/file_util.h"

namespace syspgo::trace {
namespace {

constexpr FileFrame kFrame{"SPGOTRC\n", kTraceVersion, "trace file"};

}  // namespace

std::string_view AccessKindName(AccessKind kind) {
  switch (kind) {
    case AccessKind::kRead:
      return "read";
    case AccessKind::kFault:
      return "mmap";
    case AccessKind::kFaultAround:
      return "fault-around";
  }
  return "?";
}

uint64_t Trace::TotalPages(AccessKind kind) const {
  uint64_t n = 0;
  for (const TracedFile& f : files) {
    for (const PageRange& r : f.ranges) {
      if (r.kind == kind) n += r.pages;
    }
  }
  return n;
}

std::string EncodeTrace(const Trace& t) {
  LeEncoder w = BeginFrame(kFrame);
  w.Str(t.target);
  w.Str(t.ready);
  w.U64(t.duration_ns);
  w.U32(t.page_size);
  w.U64(t.loss.chunk_overflow);
  w.U64(t.loss.file_overflow);
  w.U64(t.loss.pid_overflow);
  w.U64(t.loss.events_dropped);
  w.U64(t.loss.unresolved_files);
  w.U32(static_cast<uint32_t>(t.files.size()));
  for (const TracedFile& f : t.files) {
    w.Str(f.path);
    w.Str(f.layer);
    w.U64(f.dev);
    w.U64(f.ino);
    w.U64(f.size);
    w.U32(f.flags);
    w.U64(f.first_access_ns);
    w.U64(f.order);
    w.U32(static_cast<uint32_t>(f.ranges.size()));
    for (const PageRange& r : f.ranges) {
      w.U8(static_cast<uint8_t>(r.kind));
      w.U64(r.first_page);
      w.U64(r.pages);
    }
  }
  return EndFrame(w);
}

Result<Trace> DecodeTrace(std::string_view data) {
  ASSIGN_OR_RETURN(LeDecoder r, OpenFrame(data, kFrame));
  Trace t;
  RETURN_IF_ERROR(r.Str(&t.target));
  RETURN_IF_ERROR(r.Str(&t.ready));
  RETURN_IF_ERROR(r.U64(&t.duration_ns));
  RETURN_IF_ERROR(r.U32(&t.page_size));
  if (t.page_size == 0 || (t.page_size & (t.page_size - 1)) != 0) {
    return Corruption("trace: page size is not a power of two");
  }
  RETURN_IF_ERROR(r.U64(&t.loss.chunk_overflow));
  RETURN_IF_ERROR(r.U64(&t.loss.file_overflow));
  RETURN_IF_ERROR(r.U64(&t.loss.pid_overflow));
  RETURN_IF_ERROR(r.U64(&t.loss.events_dropped));
  RETURN_IF_ERROR(r.U64(&t.loss.unresolved_files));
  uint32_t nfiles = 0;
  RETURN_IF_ERROR(r.U32(&nfiles));
  // Each file takes at least 48 bytes: a count larger than the rest is bad.
  if (nfiles > r.left() / 48) return Corruption("trace: file count out of bounds");
  t.files.resize(nfiles);
  for (TracedFile& f : t.files) {
    RETURN_IF_ERROR(r.Str(&f.path));
    RETURN_IF_ERROR(r.Str(&f.layer));
    RETURN_IF_ERROR(r.U64(&f.dev));
    RETURN_IF_ERROR(r.U64(&f.ino));
    RETURN_IF_ERROR(r.U64(&f.size));
    RETURN_IF_ERROR(r.U32(&f.flags));
    RETURN_IF_ERROR(r.U64(&f.first_access_ns));
    RETURN_IF_ERROR(r.U64(&f.order));
    uint32_t nranges = 0;
    RETURN_IF_ERROR(r.U32(&nranges));
    if (nranges > r.left() / 17) return Corruption("trace: range count out of bounds");
    f.ranges.resize(nranges);
    for (PageRange& range : f.ranges) {
      uint8_t kind = 0;
      RETURN_IF_ERROR(r.U8(&kind));
      if (kind > static_cast<uint8_t>(AccessKind::kFaultAround)) {
        return Corruption("trace: unknown access kind " + std::to_string(kind));
      }
      range.kind = static_cast<AccessKind>(kind);
      RETURN_IF_ERROR(r.U64(&range.first_page));
      RETURN_IF_ERROR(r.U64(&range.pages));
      if (range.pages == 0 || range.first_page + range.pages < range.first_page) {
        return Corruption("trace: invalid page range in " + f.path);
      }
    }
  }
  if (r.left() != 0) return Corruption("trace: trailing bytes");
  return t;
}

Status WriteTraceFile(const std::string& path, const Trace& trace) {
  return WriteFileAtomic(path, EncodeTrace(trace), 0644, /*durable=*/true);
}

Result<Trace> ReadTraceFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string data, ReadFileToString(path, size_t{1} << 30));
  auto t = DecodeTrace(data);
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

void AppendRuns(AccessKind kind, uint64_t base_page, const uint64_t* words, size_t nwords,
                std::vector<PageRange>* out) {
  for (size_t w = 0; w < nwords; ++w) {
    uint64_t bits = words[w];
    while (bits) {
      int start = __builtin_ctzll(bits);
      uint64_t shifted = bits >> start;
      int len = (~shifted == 0) ? 64 - start : __builtin_ctzll(~shifted);
      uint64_t page = base_page + w * 64 + static_cast<uint64_t>(start);
      if (!out->empty() && out->back().kind == kind &&
          out->back().first_page + out->back().pages == page) {
        out->back().pages += static_cast<uint64_t>(len);
      } else {
        out->push_back({kind, page, static_cast<uint64_t>(len)});
      }
      bits = (len + start >= 64) ? 0 : bits & ~(((1ULL << len) - 1) << start);
    }
  }
}

void NormalizeRanges(std::vector<PageRange>* ranges) {
  std::sort(ranges->begin(), ranges->end(), [](const PageRange& a, const PageRange& b) {
    return a.kind != b.kind ? a.kind < b.kind : a.first_page < b.first_page;
  });
  std::vector<PageRange> out;
  for (const PageRange& r : *ranges) {
    if (!out.empty() && out.back().kind == r.kind &&
        out.back().first_page + out.back().pages >= r.first_page) {
      uint64_t end = std::max(out.back().first_page + out.back().pages, r.first_page + r.pages);
      out.back().pages = end - out.back().first_page;
    } else {
      out.push_back(r);
    }
  }
  *ranges = std::move(out);
}

}  // namespace syspgo::trace
