// SPDX-License-Identifier: Apache-2.0
// File: profile/merge.h
//
// Profiles of many recordings added up (`syspgo profile merge`): at 99-999
// Hz one run says little about a cold function; many runs on many hosts
// do. Inputs are profile directories (profile/profile_dir.h), from
// record, merge or pull. Profiles of the same binary (build-id) are
// merged: LLVM profiles by function, line offset and discriminator, pprof
// by stack, folded stacks by line. With by_name, profiles of every build
// of a file name are merged into one (DIR/<name>.llvmprof, .pprof,
// .folded): LLVM profiles are keyed by function name and line offset from
// the function's start, so a profile of last week's build still applies
// to today's wherever the functions did not change (clang matches it the
// same way; Go's PGO too).
//
// Inputs are untrusted (a pulled artifact is someone else's directory):
// each file is bounded (kMaxProfileFileBytes), each format's reader has
// limits, and so does what the merge holds (docs/profile.md, Limits). The
// output is written all at once or not at all (common/staged_dir.h).
#ifndef SYSPGO_PROFILE_MERGE_H_
#define SYSPGO_PROFILE_MERGE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "profile/profile_dir.h"

namespace syspgo::profile {

struct MergeOptions {
  bool by_name = false;
};

struct MergeSummary {
  int inputs = 0;
  int profiles = 0;  // per-binary (or per-name) profiles written
  uint64_t samples = 0;
};

// The folded stacks one merge may hold, over all binaries.
inline constexpr size_t kMaxMergedFoldedBytes = size_t{256} << 20;

class ProfileMerger {
 public:
  explicit ProfileMerger(MergeOptions options = {});
  ~ProfileMerger();
  ProfileMerger(const ProfileMerger&) = delete;
  ProfileMerger& operator=(const ProfileMerger&) = delete;

  // Adds one profile directory: its index and its files, each read by
  // name through `read`. Errors name `what` and the file.
  using ReadFn = std::function<Result<std::string>(const std::string& name)>;
  Status Add(const ProfileIndex& index, const ReadFn& read, const std::string& what);
  Status Add(const ProfileDir& dir);
  int inputs() const { return inputs_; }
  // Writes the merged directory to `out` (made when missing).
  Result<MergeSummary> Write(const std::string& out) const;

 private:
  struct Merged;
  Status AddFolded(std::string_view text, const std::string& file,
                   std::map<std::string, uint64_t>* out);

  MergeOptions options_;
  std::map<std::string, std::unique_ptr<Merged>> merged_;  // by build-id, or by file stem
  std::map<std::string, uint64_t> all_;
  size_t folded_bytes_ = 0;  // of all_'s and every binary's lines
  int64_t frequency_ = 0;
  double seconds_ = 0;
  int inputs_ = 0;
};

// Opens each directory and merges them into `out`.
Result<MergeSummary> MergeProfiles(const std::vector<std::string>& dirs, const std::string& out,
                                   const MergeOptions& options = {});

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_MERGE_H_
