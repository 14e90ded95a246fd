// SPDX-License-Identifier: Apache-2.0
#include "profile/profile_writer.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <tuple>

#include "common/file_util.h"
#include "common/staged_dir.h"
#include "profile/count_estimate.h"
#include "profile/flamegraph.h"
#include "profile/llvm_profile.h"
#include "profile/pprof_profile.h"
#include "profile/profile_dir.h"
#include "profile/symbolizer.h"

namespace syspgo::profile {
namespace {

struct KernelSymbols {
  std::vector<std::pair<uint64_t, std::string>> symbols;  // sorted
  static KernelSymbols Load() {
    KernelSymbols k;
    auto text = ReadFileToString("/proc/kallsyms");
    if (!text.ok()) return k;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      unsigned long long addr = 0;
      char type = 0;
      char name[256];
      if (std::sscanf(line.c_str(), "%llx %c %255s", &addr, &type, name) != 3 || addr == 0)
        continue;
      if (type != 't' && type != 'T') continue;
      k.symbols.push_back({addr, name});
    }
    std::sort(k.symbols.begin(), k.symbols.end());
    return k;
  }
  std::string NameOf(uint64_t addr) const {
    auto it =
        std::upper_bound(symbols.begin(), symbols.end(), std::make_pair(addr, std::string("\xff")));
    if (it == symbols.begin()) return "[kernel]";
    return std::prev(it)->second + "_[k]";
  }
};

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  return buf;
}

// Frames resolved: the binary's ELF file, the address, the inline chain.
class Resolver {
 public:
  Resolver(const Recording& r, std::vector<std::string> debug_dirs)
      : r_(r), symbolizer_(std::move(debug_dirs)) {}

  struct Resolved {
    const ElfFile* elf = nullptr;        // nullptr: kernel, unmapped or unreadable
    const InlineChain* chain = nullptr;  // with elf
    uint64_t address = 0;                // with elf: the link-time address
    std::string name;                    // the outermost function (or a stand-in)
  };

  const Resolved& Resolve(const Frame& f) {
    auto key = std::make_tuple(f.kernel, f.build_id, f.offset);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    Resolved r;
    if (f.kernel) {
      if (!kernel_) kernel_ = KernelSymbols::Load();
      r.name = kernel_->NameOf(f.offset);
    } else if (f.unmapped) {
      r.name = "[unknown]";
    } else {
      auto b = r_.binaries.find(f.build_id);
      std::optional<uint64_t> addr;
      if (b != r_.binaries.end()) addr = b->second->AddressOfOffset(f.offset);
      if (addr) {
        r.elf = b->second.get();
        r.address = *addr;
        r.chain = &symbolizer_.Symbolize(*r.elf, *addr);
        r.name = r.chain->back().function;
      }
      if (r.name.empty()) r.name = BaseName(f.path) + "+" + Hex(f.offset);
    }
    return cache_.emplace(key, std::move(r)).first->second;
  }
  bool HasDwarf(const std::string& build_id) const { return symbolizer_.HasDwarf(build_id); }
  Symbolizer* symbolizer() { return &symbolizer_; }

 private:
  const Recording& r_;
  Symbolizer symbolizer_;
  std::optional<KernelSymbols> kernel_;
  std::map<std::tuple<bool, std::string, uint64_t>, Resolved> cache_;
};

}  // namespace

std::vector<Frame> FramesWithLeafCaller(const Sample& s,
                                        const std::function<std::string(const Frame&)>& name) {
  std::vector<Frame> frames = s.frames;
  if (!s.sp_frame || frames.empty() || frames[0].kernel) return frames;
  const std::string caller = name(*s.sp_frame);
  if (caller == name(frames[0])) return frames;  // the leaf itself (recursion, or no call yet)
  if (frames.size() > 1 && caller == name(frames[1])) return frames;  // the stack has it
  frames.insert(frames.begin() + 1, *s.sp_frame);
  return frames;
}

namespace {

// Folded stack text of frames (leaf first): the root first, inlined
// functions as frames of their own.
std::string FoldedLine(const Sample& s, const std::vector<Frame>& frames, Resolver& resolver) {
  std::string line = s.comm.empty() ? std::to_string(s.pid) : s.comm;
  auto add = [&](std::string name) {
    std::replace(name.begin(), name.end(), ';', ':');
    std::replace(name.begin(), name.end(), ' ', '_');
    line += ";" + name;
  };
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    const Resolver::Resolved& r = resolver.Resolve(*it);
    if (!r.chain || r.chain->size() == 1) {
      add(r.name);
      continue;
    }
    for (auto in = r.chain->rbegin(); in != r.chain->rend(); ++in) {
      add(in->function.empty() ? r.name : in->function);
    }
  }
  return line;
}

PprofFrame PprofFrameOf(const Frame& f, const Resolver::Resolved& r) {
  PprofFrame out;
  out.binary = f.kernel ? "[kernel]" : f.unmapped ? "[unknown]" : f.path;
  out.build_id = f.build_id;
  out.address = f.offset;
  if (r.chain) {
    for (const SourceFrame& sf : *r.chain) {
      out.lines.push_back({sf.function.empty() ? r.name : sf.function, sf.file,
                           static_cast<int64_t>(sf.start_line), static_cast<int64_t>(sf.line)});
    }
  } else {
    out.lines.push_back({r.name, "", 0, 0});
  }
  return out;
}

struct PerBinary {
  std::string path;
  uint64_t samples = 0;
  std::map<std::string, uint64_t> folded;
  std::unique_ptr<CountEstimator> llvm;
  // The recording split in two (every other sample), to say how stable
  // the profile is; the next sample's half.
  std::unique_ptr<CountEstimator> half[2];
  int next_half = 0;
  std::unique_ptr<PprofBuilder> pprof;
  bool go = false;  // a Go binary: its .pprof is the profile that counts
};

}  // namespace

Result<WriteSummary> WriteProfiles(const Recording& recording, const std::string& dir,
                                   const WriteOptions& options) {
  Resolver resolver(recording, options.debug_dirs);
  const int64_t period_ns = recording.frequency > 0 ? 1000000000ll / recording.frequency : 0;
  const auto duration_ns = static_cast<int64_t>(recording.seconds * 1e9);
  WriteSummary summary;
  std::map<std::string, uint64_t> all;
  std::map<std::string, PerBinary> binaries;  // by build-id
  auto binary = [&](const Frame& f) -> PerBinary& {
    PerBinary& b = binaries[f.build_id];
    if (b.path.empty()) b.path = f.path;
    if (!b.pprof) b.pprof = std::make_unique<PprofBuilder>(period_ns, duration_ns);
    if (!b.llvm) {
      b.llvm = std::make_unique<CountEstimator>(resolver.symbolizer());
      if (options.llvm_weights == LlvmWeights::kCounts) {
        for (auto& h : b.half) h = std::make_unique<CountEstimator>(resolver.symbolizer());
      }
    }
    return b;
  };
  for (const Sample& s : recording.samples) {
    const std::vector<Frame> frames =
        FramesWithLeafCaller(s, [&](const Frame& f) { return resolver.Resolve(f).name; });
    const std::string line = FoldedLine(s, frames, resolver);
    all[line] += s.count;
    summary.samples += s.count;
    // The binary the sample's leaf user frame is in gets the sample; the
    // binary of its caller gets the call (the leaf's edge, as Go's PGO
    // weighs call edges).
    size_t u = 0;
    while (u < frames.size() && frames[u].kernel) ++u;
    if (u == frames.size() || frames[u].unmapped || frames[u].build_id.empty()) continue;
    const Resolver::Resolved& leaf = resolver.Resolve(frames[u]);
    PerBinary& b = binary(frames[u]);
    b.samples += s.count;
    b.folded[line] += s.count;
    std::vector<PprofFrame> stack;
    stack.reserve(frames.size());
    for (const Frame& f : frames) stack.push_back(PprofFrameOf(f, resolver.Resolve(f)));
    RETURN_IF_ERROR(b.pprof->AddSample(stack, s.count));
    if (!leaf.chain) continue;
    b.go = leaf.elf->is_go();
    b.llvm->AddSample(*leaf.elf, leaf.address, s.count);
    // Halves: count/2 each, the odd one to the half whose turn it is.
    const uint64_t even = s.count / 2;
    const int odd_to = b.next_half;
    if (s.count % 2) b.next_half ^= 1;
    for (int h = 0; h < 2 && b.half[h]; ++h) {
      const uint64_t n = even + (s.count % 2 && h == odd_to ? 1 : 0);
      if (n) b.half[h]->AddSample(*leaf.elf, leaf.address, n);
    }
    if (u + 1 < frames.size() && !frames[u + 1].unmapped && !frames[u + 1].build_id.empty()) {
      const Resolver::Resolved& caller = resolver.Resolve(frames[u + 1]);
      if (caller.chain && caller.chain->back().function != leaf.chain->back().function) {
        // No head samples: they would say how often a function is
        // entered, which samples do not tell; counted as time they made
        // sqlite's rebuild slower (bench/pgo.sh: -5.7% instructions with
        // them, -9.4% without, on the same recording).
        binary(frames[u + 1])
            .llvm->AddCall(*caller.elf, caller.address, leaf.chain->back().function, s.count);
      }
    }
  }
  auto folded_text = [](const std::map<std::string, uint64_t>& lines) {
    std::string text;
    for (const auto& [line, n] : lines) text += line + " " + std::to_string(n) + "\n";
    return text;
  };
  ASSIGN_OR_RETURN(StagedDir out, StagedDir::Open(dir));
  ProfileIndex index;
  index.frequency_hz = recording.frequency;
  index.seconds = recording.seconds;
  index.all = "all.folded";
  index.flamegraph = "all.svg";
  RETURN_IF_ERROR(out.Write(index.all, folded_text(all)));
  RETURN_IF_ERROR(out.Write(index.flamegraph, FlameGraphSvg(all, "CPU samples")));
  for (const auto& [build_id, b] : binaries) {
    if (b.samples == 0 && b.llvm->samples().empty()) continue;
    // The recorder's build-ids are hex (elf_file.h); a frame without one
    // has no profile of its own (above).
    if (!IsBuildId(build_id)) continue;
    const std::string stem = ProfileStem(b.path, build_id);
    ProfileBinary entry;
    entry.path = b.path;
    entry.build_id = build_id;
    entry.samples = b.samples;
    entry.dwarf = resolver.HasDwarf(build_id);
    entry.files.push_back(stem + ".folded");
    RETURN_IF_ERROR(out.Write(entry.files.back(), folded_text(b.folded)));
    ASSIGN_OR_RETURN(std::string pprof, b.pprof->Gzipped());
    entry.files.push_back(stem + ".pprof");
    RETURN_IF_ERROR(out.Write(entry.files.back(), pprof));
    // Only where some sample has a source line (DWARF).
    const std::string text =
        options.llvm_weights == LlvmWeights::kCounts
            ? b.llvm->Counts({.min_samples = options.min_function_samples}).ToText()
            : b.llvm->samples().ToText();
    if (!text.empty() && options.llvm_weights == LlvmWeights::kCounts && !b.go) {
      const EstimateOptions est{.min_samples = options.min_function_samples};
      summary.llvm.push_back({b.path, b.samples, b.llvm->blocks(),
                              Agreement(b.half[0]->Counts(est), b.half[1]->Counts(est))});
    }
    if (!text.empty()) {
      entry.files.push_back(stem + ".llvmprof");
      RETURN_IF_ERROR(out.Write(entry.files.back(), text));
    }
    index.binaries.push_back(std::move(entry));
    summary.binaries++;
  }
  const RecordStats& st = recording.stats;
  index.samples = summary.samples;
  index.stats = {{"samples_taken", st.samples},
                 {"lost_user_stacks", st.lost_user_stacks},
                 {"lost_kernel_stacks", st.lost_kernel_stacks},
                 {"lost_keys", st.lost_keys},
                 {"lost_pids", st.lost_pids},
                 {"truncated_stacks", st.truncated_stacks},
                 {"unresolved_frames", st.unresolved_frames},
                 {"processes_without_maps", st.processes_without_maps}};
  RETURN_IF_ERROR(out.Write(kProfileIndexName, SerializeProfileIndex(index)));
  RETURN_IF_ERROR(out.Commit());
  std::sort(
      summary.llvm.begin(), summary.llvm.end(),
      [](const LlvmProfileNote& x, const LlvmProfileNote& y) { return x.samples > y.samples; });
  return summary;
}

}  // namespace syspgo::profile
