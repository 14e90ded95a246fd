// SPDX-License-Identifier: Apache-2.0
// File: profile/pprof_profile.h
//
// pprof profiles (google/pprof's profile.proto, compiled from Debian's
// copy): what `go build -pgo` and `go tool pprof` read. Sample types
// samples/count and cpu/nanoseconds; a location per (binary, file offset)
// with its inlined frames expanded (innermost first), functions with their
// start line (Go's PGO matches call sites by line offset from it),
// mappings named by path and build-id. Addresses are file offsets (the
// same in every process and on every host), in mappings that start at 0.
//
// Profiles read back (AddProfile) come from other hosts and registries:
// they are decoded field by field from the wire format, within PprofLimits
// (docs/profile.md, "Limits"), never expanded into protobuf objects
// whole, so a small gzip that decodes to millions of samples is refused
// before it costs memory.
#ifndef SYSPGO_PROFILE_PPROF_PROFILE_H_
#define SYSPGO_PROFILE_PPROF_PROFILE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/status.h"

namespace perftools::profiles {
class Profile;
}

namespace syspgo::profile {

struct PprofLine {
  std::string function;
  std::string file;
  int64_t start_line = 0;
  int64_t line = 0;
};

struct PprofFrame {
  std::string binary;            // path ("[kernel]" for the kernel)
  std::string build_id;          // hex, "" when none
  uint64_t address = 0;          // file offset (kernel: the address)
  std::vector<PprofLine> lines;  // innermost first; empty: unsymbolized
};

// What one profile read by AddProfile may hold, and what one builder (one
// binary's merged profile) may grow to. Each limit is far above what a
// recording writes (a 60 s recording of a whole 2-CPU machine: about 10^4
// stacks, 10^4 locations).
struct PprofLimits {
  // One profile read.
  size_t decoded_bytes = size_t{64} << 20;  // after gunzip
  size_t samples = size_t{1} << 20;
  size_t frames = size_t{16} << 20;  // location ids over all its samples
  size_t locations = size_t{1} << 20;
  size_t lines = size_t{4} << 20;
  size_t functions = size_t{1} << 20;
  size_t mappings = size_t{1} << 16;
  size_t strings = size_t{1} << 20;
  // The builder, over everything added.
  size_t merged_stacks = size_t{1} << 20;
  size_t merged_frames = size_t{8} << 20;  // location ids over distinct stacks
  size_t merged_locations = size_t{1} << 20;
  size_t merged_functions = size_t{1} << 20;
  size_t merged_string_bytes = size_t{64} << 20;
};

class PprofBuilder {
 public:
  // `period_ns`: CPU time one sample stands for (1e9 / frequency).
  PprofBuilder(int64_t period_ns, int64_t duration_ns, const PprofLimits& limits = {});
  ~PprofBuilder();
  PprofBuilder(const PprofBuilder&) = delete;
  PprofBuilder& operator=(const PprofBuilder&) = delete;

  // `count` samples of the stack `frames` (leaf first). The same stack
  // added again adds up. ResourceExhausted past the merged limits.
  Status AddSample(const std::vector<PprofFrame>& frames, uint64_t count);
  // Every sample of a serialized profile (gzipped or not), as AddSample.
  // Corruption when it is no pprof profile; ResourceExhausted when it
  // exceeds the limits (the builder may then hold part of it).
  Status AddProfile(std::string_view bytes);
  uint64_t samples() const { return samples_; }
  // The gzipped profile.
  Result<std::string> Gzipped() const;

 private:
  struct LineIds {
    uint64_t function;
    int64_t line;
  };
  int64_t Intern(std::string_view s);
  Result<uint64_t> MappingId(int64_t file, int64_t build_id);
  Result<uint64_t> FunctionId(int64_t name, int64_t file, int64_t start_line);
  Result<uint64_t> LocationId(uint64_t mapping, uint64_t address, std::span<const LineIds> lines);
  Status AddStack(const std::vector<uint64_t>& location_ids, uint64_t count);
  Status Exhausted(std::string_view what, size_t limit) const;

  PprofLimits limits_;
  std::unique_ptr<perftools::profiles::Profile> profile_;
  std::map<std::string, int64_t, std::less<>> strings_;
  size_t string_bytes_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> locations_;  // (mapping, address)
  std::map<std::tuple<int64_t, int64_t, int64_t>, uint64_t> functions_;
  std::map<std::pair<int64_t, int64_t>, uint64_t> mappings_;  // (file, build-id) strings
  std::map<std::vector<uint64_t>, int> sample_index_;         // location ids -> sample
  size_t frames_ = 0;  // location ids over sample_index_'s stacks
  uint64_t samples_ = 0;
};

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_PPROF_PROFILE_H_
