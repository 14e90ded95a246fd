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
#ifndef SYSPGO_PROFILE_PPROF_PROFILE_H_
#define SYSPGO_PROFILE_PPROF_PROFILE_H_

#include <cstdint>
#include <map>
#include <memory>
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

class PprofBuilder {
 public:
  // `period_ns`: CPU time one sample stands for (1e9 / frequency).
  PprofBuilder(int64_t period_ns, int64_t duration_ns);
  ~PprofBuilder();
  PprofBuilder(const PprofBuilder&) = delete;
  PprofBuilder& operator=(const PprofBuilder&) = delete;

  // `count` samples of the stack `frames` (leaf first). The same stack
  // added again adds up.
  void AddSample(const std::vector<PprofFrame>& frames, uint64_t count);
  // Every sample of a serialized profile (gzipped or not), as AddSample.
  Status AddProfile(std::string_view bytes);
  uint64_t samples() const { return samples_; }
  // The gzipped profile.
  Result<std::string> Gzipped() const;

 private:
  int64_t Intern(const std::string& s);
  uint64_t LocationId(const PprofFrame& f);
  uint64_t FunctionId(const PprofLine& l);
  uint64_t MappingId(const PprofFrame& f);

  std::unique_ptr<perftools::profiles::Profile> profile_;
  std::map<std::string, int64_t> strings_;
  std::map<std::tuple<std::string, std::string, uint64_t>, uint64_t> locations_;
  std::map<std::tuple<std::string, std::string, int64_t>, uint64_t> functions_;
  std::map<std::pair<std::string, std::string>, uint64_t> mappings_;
  std::map<std::vector<uint64_t>, int> sample_index_;  // location ids -> sample
  uint64_t samples_ = 0;
};

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_PPROF_PROFILE_H_
