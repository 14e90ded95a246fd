// SPDX-License-Identifier: Apache-2.0
// File: profile/count_estimate.h
//
// Execution counts from time samples. An LLVM sample profile says how
// often each source line ran (clang weighs a block by its lines' counts and
// a call by its targets' counts), but a cpu-clock sample says only where
// time went: a line's samples grow with how often it ran *and* with how
// much code it has, and the samples below a call site are the callee's
// time, not the number of calls. Both skew what clang infers (a block
// holding a long line or a call to a slow function looks hotter than the
// loop around it). docs/profile.md, "Estimating counts", shows the effect
// against the counts instrumented PGO measures.
//
// The estimate, per place (function, inline call site, line offset,
// discriminator):
//   count = samples / bytes of code the binary has there * scale
// with one scale per binary that makes the profile's total 1000 counts
// per sample (finer than samples: the ratios clang reads from rare blocks
// are not rounding). A call site's
// targets share the site's estimated count in proportion to their samples.
// Outermost functions with fewer than `min_samples` samples are left out:
// clang then optimizes them as it would without a profile, rather than
// after counts that are mostly noise.
#ifndef SYSPGO_PROFILE_COUNT_ESTIMATE_H_
#define SYSPGO_PROFILE_COUNT_ESTIMATE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "profile/elf_file.h"
#include "profile/llvm_profile.h"
#include "profile/symbolizer.h"

namespace syspgo::profile {

struct EstimateOptions {
  uint64_t min_samples = 0;  // per outermost function, inlined code included
};

// `samples`: the time samples (LlvmProfile::AddBody per sample, AddCall
// per caller frame). `code`: the bytes of code per place, built with
// AddBody(chain of a line row's first address, the row's bytes) over the
// line rows of the functions `samples` names (Symbolizer::ForEachLineRow).
// A place `code` lacks keeps its samples as its count.
LlvmProfile EstimateCounts(const LlvmProfile& samples, const LlvmProfile& code,
                           const EstimateOptions& options);

// How far two profiles put their counts in the same places: the sum over
// places (function, inline call sites, line offset, discriminator) of the
// smaller of the two shares of its profile's total, 0-1.
double Agreement(const LlvmProfile& a, const LlvmProfile& b);

// The samples of one binary as they come (AddSample, AddCall) and the
// profile estimated from them (Counts), with the code sizes looked up on
// the way. What the profile writer keeps per binary; bench/tools uses it
// on recorded profiles too.
//
// A binary with machine blocks (clang -fbasic-block-address-map,
// profile/bb_addr_map.h) is estimated per block instead of per line: a
// block's count is its samples over its bytes (times the scale), every
// line gets the most any block holding its code ran (as llvm-profgen does
// with branch records), a call site's targets share its block's count, and
// a function's head samples (entries) are its entry block's count.
// A block runs as a whole, so the estimate pools all of its samples and
// lines of one block agree; blocks without a sample say nothing (clang
// infers them) rather than "never".
class CountEstimator {
 public:
  // `symbolizer` outlives the estimator.
  explicit CountEstimator(Symbolizer* symbolizer) : symbolizer_(symbolizer) {}

  // `count` samples executing at `address` (link-time) of `elf`.
  void AddSample(const ElfFile& elf, uint64_t address, uint64_t count);
  // `count` samples in `callee` called from the call at `address`.
  void AddCall(const ElfFile& elf, uint64_t address, const std::string& callee, uint64_t count);

  // The samples themselves (time) or the estimated counts.
  const LlvmProfile& samples() const { return samples_; }
  bool blocks() const { return elf_ && elf_->has_blocks(); }
  LlvmProfile Counts(const EstimateOptions& options) const;

 private:
  // Per function (its symbol's address): samples by address, and samples
  // in callees by (call address, callee), for the block estimate.
  struct Raw {
    uint64_t size = 0;
    uint64_t samples = 0;
    std::map<uint64_t, uint64_t> at;
    std::map<std::pair<uint64_t, std::string>, uint64_t> calls;
  };
  void AddCodeOf(const ElfFile& elf, uint64_t address);
  // The function holding `address` (after AddCodeOf), nullptr when no
  // symbol covers it or `elf` is not the estimator's binary.
  Raw* RawAt(const ElfFile& elf, uint64_t address);
  LlvmProfile BlockCounts(const EstimateOptions& options) const;
  Symbolizer* symbolizer_;
  const ElfFile* elf_ = nullptr;  // the binary (the first one added)
  std::map<uint64_t, Raw> raw_;
  LlvmProfile samples_;
  LlvmProfile code_;                                 // bytes per place of the functions sampled
  std::set<std::pair<std::string, uint64_t>> done_;  // (build-id, function address) in code_
};

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_COUNT_ESTIMATE_H_
