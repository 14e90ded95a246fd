// SPDX-License-Identifier: Apache-2.0
#include "profile/profile_writer.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file_util.h"

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
      if (std::sscanf(line.c_str(), "%llx %c %255s", &addr, &type, name) != 3 || addr == 0) continue;
      if (type != 't' && type != 'T') continue;
      k.symbols.push_back({addr, name});
    }
    std::sort(k.symbols.begin(), k.symbols.end());
    return k;
  }
  std::string NameOf(uint64_t addr) const {
    auto it = std::upper_bound(symbols.begin(), symbols.end(), std::make_pair(addr, std::string("\xff")));
    if (it == symbols.begin()) return "[kernel]";
    return std::prev(it)->second + "_[k]";
  }
};

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  return buf;
}

class Namer {
 public:
  explicit Namer(const Recording& r) : r_(r) {}
  std::string Name(const Frame& f) {
    if (f.kernel) {
      if (!kernel_) kernel_ = KernelSymbols::Load();
      return kernel_->NameOf(f.offset);
    }
    if (f.unmapped) return "[unknown]";
    auto it = r_.binaries.find(f.build_id);
    if (it != r_.binaries.end()) {
      auto addr = it->second->AddressOfOffset(f.offset);
      if (addr) {
        if (const ElfSymbol* s = it->second->FunctionAt(*addr)) return s->name;
      }
    }
    return BaseName(f.path) + "+" + Hex(f.offset);
  }

 private:
  const Recording& r_;
  std::optional<KernelSymbols> kernel_;
};

}  // namespace

std::vector<Frame> FramesWithLeafCaller(const Sample& s, const std::function<std::string(const Frame&)>& name) {
  std::vector<Frame> frames = s.frames;
  if (!s.sp_frame || frames.empty() || frames[0].kernel) return frames;
  const std::string caller = name(*s.sp_frame);
  if (caller == name(frames[0])) return frames;  // the leaf itself (recursion, or no call yet)
  if (frames.size() > 1 && caller == name(frames[1])) return frames;  // the stack has it
  frames.insert(frames.begin() + 1, *s.sp_frame);
  return frames;
}

namespace {

std::string FoldedLine(const Sample& s, Namer& namer) {
  std::string line = s.comm.empty() ? std::to_string(s.pid) : s.comm;
  const std::vector<Frame> frames =
      FramesWithLeafCaller(s, [&](const Frame& f) { return namer.Name(f); });
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    std::string name = namer.Name(*it);
    std::replace(name.begin(), name.end(), ';', ':');
    std::replace(name.begin(), name.end(), ' ', '_');
    line += ";" + name;
  }
  return line;
}

}  // namespace

Result<WriteSummary> WriteProfiles(const Recording& recording, const std::string& dir) {
  RETURN_IF_ERROR(MakeDirs(dir, 0755));
  Namer namer(recording);
  WriteSummary summary;
  std::map<std::string, uint64_t> all;
  struct PerBinary {
    std::string path;
    uint64_t samples = 0;
    std::map<std::string, uint64_t> folded;
  };
  std::map<std::string, PerBinary> binaries;  // by build-id
  for (const Sample& s : recording.samples) {
    const std::string line = FoldedLine(s, namer);
    all[line] += s.count;
    summary.samples += s.count;
    // The binary the sample's leaf user frame is in.
    for (const Frame& f : s.frames) {
      if (f.kernel) continue;
      if (!f.unmapped && !f.build_id.empty()) {
        PerBinary& b = binaries[f.build_id];
        b.path = f.path;
        b.samples += s.count;
        b.folded[line] += s.count;
      }
      break;
    }
  }
  auto write_folded = [&](const std::string& path, const std::map<std::string, uint64_t>& lines) {
    std::string text;
    for (const auto& [line, n] : lines) text += line + " " + std::to_string(n) + "\n";
    return WriteFileAtomic(path, text, 0644, false);
  };
  RETURN_IF_ERROR(write_folded(JoinPath(dir, "all.folded"), all));
  nlohmann::json index = nlohmann::json::array();
  for (const auto& [build_id, b] : binaries) {
    const std::string name = BaseName(b.path) + "-" + build_id + ".folded";
    RETURN_IF_ERROR(write_folded(JoinPath(dir, name), b.folded));
    index.push_back({{"path", b.path}, {"build_id", build_id}, {"samples", b.samples},
                     {"files", {name}}});
    summary.binaries++;
  }
  const RecordStats& st = recording.stats;
  nlohmann::json j = {{"frequency_hz", recording.frequency},
                      {"seconds", recording.seconds},
                      {"samples", summary.samples},
                      {"stats",
                       {{"samples_taken", st.samples},
                        {"lost_user_stacks", st.lost_user_stacks},
                        {"lost_kernel_stacks", st.lost_kernel_stacks},
                        {"lost_keys", st.lost_keys},
                        {"lost_pids", st.lost_pids},
                        {"truncated_stacks", st.truncated_stacks},
                        {"unresolved_frames", st.unresolved_frames},
                        {"processes_without_maps", st.processes_without_maps}}},
                      {"all", "all.folded"},
                      {"binaries", index}};
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "profiles.json"), j.dump(2) + "\n", 0644, false));
  return summary;
}

}  // namespace syspgo::profile
