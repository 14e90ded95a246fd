// SPDX-License-Identifier: Apache-2.0
// File: profile/merge.h
//
// Profiles of many recordings added up (`syspgo profile merge`): at 99-999
// Hz one run says little about a cold function; many runs on many hosts
// do. Inputs are directories written by WriteProfiles (profile_writer.h),
// each with its profiles.json. Profiles of the same binary (build-id) are
// merged: LLVM profiles by function, line offset and discriminator, pprof
// by stack, folded stacks by line. With by_name, profiles of every build
// of a file name are merged into one (DIR/<name>.llvmprof, .pprof,
// .folded): LLVM profiles are keyed by function name and line offset from
// the function's start, so a profile of last week's build still applies
// to today's wherever the functions did not change (clang matches it the
// same way; Go's PGO too).
#ifndef SYSPGO_PROFILE_MERGE_H_
#define SYSPGO_PROFILE_MERGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace syspgo::profile {

struct MergeOptions {
  bool by_name = false;
};

struct MergeSummary {
  int inputs = 0;
  int profiles = 0;  // per-binary (or per-name) profiles written
  uint64_t samples = 0;
};

Result<MergeSummary> MergeProfiles(const std::vector<std::string>& dirs, const std::string& out,
                                   const MergeOptions& options = {});

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_MERGE_H_
