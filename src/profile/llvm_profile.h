// SPDX-License-Identifier: Apache-2.0
// File: profile/llvm_profile.h
//
// LLVM's sample profile, text format (what clang's -fprofile-sample-use
// reads; docs/profile.md): per function, samples by source line offset
// from the function's start line (DW_AT_decl_line) and base
// discriminator, call targets at call sites, and the profiles of functions
// that were inlined at a call site, nested the same way:
//
//   main:1200:10              name:total samples:head samples
//    3: 200                   line offset: samples
//    4.1: 300 _Z3fooi:250     line offset.discriminator: samples targets
//    5: _Z3bari:700           inlined at line offset 5: its profile
//     1: 700
//
// Built from samples (Add), merged (Merge), written (ToText) and read back
// (ParseLlvmText) so that profiles of many runs and hosts add up.
#ifndef SYSPGO_PROFILE_LLVM_PROFILE_H_
#define SYSPGO_PROFILE_LLVM_PROFILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "profile/symbolizer.h"

namespace syspgo::profile {

// A place in a function: (line offset, base discriminator).
using LineKey = std::pair<uint32_t, uint32_t>;

// What a profile read from elsewhere may hold (docs/profile.md, Limits):
// a file read by ParseLlvmText, and a profile that others are merged into.
inline constexpr size_t kMaxLlvmDepth = 64;  // inline nesting
inline constexpr size_t kMaxLlvmRecords = size_t{4} << 20;
inline constexpr size_t kMaxLlvmNameBytes = size_t{128} << 20;

// A profile's size: its records (functions, body lines, call targets,
// inlined call sites) and the bytes of the names they hold.
struct LlvmSize {
  size_t records = 0;
  size_t name_bytes = 0;
};

struct FunctionSamples {
  uint64_t total = 0;
  uint64_t head = 0;
  std::map<LineKey, uint64_t> body;
  std::map<LineKey, std::map<std::string, uint64_t>> calls;  // call targets by callee name
  std::map<LineKey, std::map<std::string, FunctionSamples>> inlined;

  // Adds `other` in; what it adds to the size is added to `*grown`.
  void Merge(const FunctionSamples& other, LlvmSize* grown);
};

struct EstimateOptions;  // profile/count_estimate.h

class LlvmProfile {
 public:
  // `count` samples executing at `chain` (innermost first, as the
  // symbolizer gives). Chains without a line or a start line, or with a
  // function name holding a space (the format cannot), are left out.
  void AddBody(const InlineChain& chain, uint64_t count);
  // `count` samples in `callee` called from the call instruction at
  // `call_site` (the caller's chain).
  void AddCall(const InlineChain& call_site, const std::string& callee, uint64_t count);
  // `count` entries of a function compiled out of line.
  void AddHead(const std::string& function, uint64_t count);
  // ResourceExhausted when the merged profile would exceed the limits
  // (it then holds part of `other`).
  Status Merge(const LlvmProfile& other);

  // The text format. Call sites' sample counts are raised to at least the
  // sum of their targets (a call is executed as often as its callees are
  // entered from it); functions sorted by total, hottest first.
  std::string ToText() const;
  uint64_t total() const;
  bool empty() const { return functions_.empty(); }
  const std::map<std::string, FunctionSamples>& functions() const { return functions_; }
  const LlvmSize& size() const { return size_; }

 private:
  friend Result<LlvmProfile> ParseLlvmText(std::string_view text);
  friend LlvmProfile EstimateCounts(const LlvmProfile& samples, const LlvmProfile& code,
                                    const EstimateOptions& options);
  // The samples of the innermost function of `chain`, created on the way
  // down from the outermost one through its inline call sites; nullptr
  // when the chain has no usable line.
  FunctionSamples* Walk(const InlineChain& chain, uint64_t count, LineKey* at);
  std::map<std::string, FunctionSamples> functions_;
  LlvmSize size_;
};

// Reads the text format (metadata lines, "!...", are skipped): Corruption
// naming the line when it is malformed, ResourceExhausted past the limits.
Result<LlvmProfile> ParseLlvmText(std::string_view text);

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_LLVM_PROFILE_H_
