// SPDX-License-Identifier: Apache-2.0
// File: trace/trace_format.h
//
// The startup I/O trace file (docs/trace-format.md): which pages of which
// files a traced start touched, how (read, mmap fault, fault-around, exec)
// and when first, plus the readiness event and loss counters. Versioned,
// little-endian, CRC-checked; decoding checks every bound. No dependency on
// BPF, so builders and tests can use it anywhere.
#ifndef SYSPGO_TRACE_TRACE_FORMAT_H_
#define SYSPGO_TRACE_TRACE_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syspgo::trace {

enum class AccessKind : uint8_t { kRead = 0, kFault = 1, kFaultAround = 2 };
std::string_view AccessKindName(AccessKind kind);

struct PageRange {
  AccessKind kind = AccessKind::kRead;
  uint64_t first_page = 0;
  uint64_t pages = 0;
  bool operator==(const PageRange&) const = default;
};

inline constexpr uint32_t kFileExec = 1;

struct TracedFile {
  std::string path;   // in the traced root ("/usr/bin/python3"), or host path
  std::string layer;  // layer digest when the file lives in a layer store
  uint64_t dev = 0;   // kernel dev_t
  uint64_t ino = 0;
  uint64_t size = 0;
  uint32_t flags = 0;             // kFileExec
  uint64_t first_access_ns = 0;   // since the trace started
  uint64_t order = 0;             // rank of first access
  std::vector<PageRange> ranges;  // sorted by kind, then page
  bool operator==(const TracedFile&) const = default;
};

struct TraceLoss {
  uint64_t chunk_overflow = 0;
  uint64_t file_overflow = 0;
  uint64_t pid_overflow = 0;
  uint64_t events_dropped = 0;
  uint64_t unresolved_files = 0;
  bool operator==(const TraceLoss&) const = default;
};

struct Trace {
  std::string target;  // what was traced ("cmd: ...", "pid 42", image)
  std::string ready;   // readiness condition and what met it
  uint64_t duration_ns = 0;
  uint32_t page_size = 4096;
  TraceLoss loss;
  std::vector<TracedFile> files;  // in order of first access
  bool operator==(const Trace&) const = default;

  uint64_t TotalPages(AccessKind kind) const;
};

inline constexpr uint32_t kTraceVersion = 1;

std::string EncodeTrace(const Trace& trace);
Result<Trace> DecodeTrace(std::string_view data);
Status WriteTraceFile(const std::string& path, const Trace& trace);
Result<Trace> ReadTraceFile(const std::string& path);

// Page ranges from a bitmap of pages: runs of set bits.
void AppendRuns(AccessKind kind, uint64_t base_page, const uint64_t* words, size_t nwords,
                std::vector<PageRange>* out);
// Sorts and merges adjacent/overlapping ranges of the same kind.
void NormalizeRanges(std::vector<PageRange>* ranges);

}  // namespace syspgo::trace

#endif  // SYSPGO_TRACE_TRACE_FORMAT_H_
