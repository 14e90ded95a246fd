// SPDX-License-Identifier: Apache-2.0
// File: profile/profile_writer.h
//
// A recording (profile/recorder.h) written out, one profile per binary and
// shared library from one recording (the samples whose leaf user frame is
// in it), named DIR/<file name>-<build-id>.<ext>:
//   .llvmprof  LLVM sample profile, text (profile/llvm_profile.h), when the
//              binary has DWARF: body samples by line offset and
//              discriminator with inline nesting, and call targets (the
//              leaf's call edge) in the caller's binary; no head samples;
//   .pprof     gzipped pprof (profile/pprof_profile.h), whole stacks;
//   .folded    folded stacks for people (flamegraph.pl, speedscope);
// plus DIR/all.folded and an index DIR/profiles.json (file, build-id,
// samples, whether DWARF was found, files written, the loss counters).
// Source locations from DWARF (profile/symbolizer.h), else the symbol
// table; the kernel's from /proc/kallsyms; a frame without a symbol is
// <file>+0x<offset>.
#ifndef SYSPGO_PROFILE_PROFILE_WRITER_H_
#define SYSPGO_PROFILE_PROFILE_WRITER_H_

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "profile/recorder.h"

namespace syspgo::profile {

// What a binary's LLVM profile rests on.
struct LlvmProfileNote {
  std::string path;
  uint64_t samples = 0;
  bool blocks = false;  // counted per machine block (else per source line)
  // How far the profiles of the recording's two halves (every other
  // sample) agree, 0-1 (profile/count_estimate.h, Agreement): what a
  // longer recording raises.
  double halves_agree = 0;
};

struct WriteSummary {
  int binaries = 0;  // per-binary files written
  uint64_t samples = 0;
  std::vector<LlvmProfileNote> llvm;  // binaries with an .llvmprof, most samples first
};

// What the .llvmprof files hold (profile/count_estimate.h).
enum class LlvmWeights {
  kCounts,   // execution counts estimated from the samples (the default)
  kSamples,  // the samples themselves (time): for comparisons
};

inline constexpr uint64_t kDefaultMinFunctionSamples = 0;

struct WriteOptions {
  std::vector<std::string> debug_dirs;  // more places for debug files (profile/symbolizer.h)
  LlvmWeights llvm_weights = LlvmWeights::kCounts;
  // Functions with fewer samples than this get no counts (clang optimizes
  // them as without a profile).
  uint64_t min_function_samples = kDefaultMinFunctionSamples;
};

Result<WriteSummary> WriteProfiles(const Recording& recording, const std::string& dir,
                                   const WriteOptions& options = {});

// A sample's frames (leaf first) with the leaf's caller put back where the
// frame-pointer walk lost it: a leaf that set up no frame leaves its
// caller's return address at the stack pointer and the frame pointer still
// at its caller's caller. The recorder keeps that word only when a call
// instruction ends right before it; it is inserted when it names neither
// the leaf's function nor the next frame's. `name` gives a frame's
// function.
std::vector<Frame> FramesWithLeafCaller(const Sample& s,
                                        const std::function<std::string(const Frame&)>& name);

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_PROFILE_WRITER_H_
