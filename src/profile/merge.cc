// SPDX-License-Identifier: Apache-2.0
#include "profile/merge.h"

#include <set>

#include "common/file_util.h"
#include "common/staged_dir.h"
#include "profile/flamegraph.h"
#include "profile/llvm_profile.h"
#include "profile/pprof_profile.h"

namespace syspgo::profile {

struct ProfileMerger::Merged {
  std::string path;
  std::set<std::string> build_ids;
  uint64_t samples = 0;
  bool dwarf = false;
  LlvmProfile llvm;
  std::unique_ptr<PprofBuilder> pprof;
  std::map<std::string, uint64_t> folded;
};

ProfileMerger::ProfileMerger(MergeOptions options) : options_(options) {}
ProfileMerger::~ProfileMerger() = default;

Status ProfileMerger::AddFolded(std::string_view text, const std::string& file,
                                std::map<std::string, uint64_t>* out) {
  for (std::string_view line : SplitLines(text)) {
    if (line.empty()) continue;
    const size_t sp = line.rfind(' ');
    uint64_t n = 0;
    if (sp == std::string_view::npos || sp + 1 == line.size()) {
      return Corruption(file + ": a folded line without a count");
    }
    for (char c : line.substr(sp + 1)) {
      if (c < '0' || c > '9' || __builtin_mul_overflow(n, 10, &n) ||
          __builtin_add_overflow(n, static_cast<uint64_t>(c - '0'), &n)) {
        return Corruption(file + ": a folded line without a count");
      }
    }
    auto [it, added] = out->try_emplace(std::string(line.substr(0, sp)), 0);
    if (added) {
      folded_bytes_ += sp + 32;
      if (folded_bytes_ > kMaxMergedFoldedBytes) {
        return ResourceExhausted(file + ": the merged folded stacks exceed " +
                                 std::to_string(kMaxMergedFoldedBytes) +
                                 " bytes (docs/profile.md, Limits)");
      }
    }
    if (__builtin_add_overflow(it->second, n, &it->second)) it->second = UINT64_MAX;
  }
  return Status::Ok();
}

Status ProfileMerger::Add(const ProfileIndex& index, const ReadFn& read, const std::string& what) {
  frequency_ = std::max(frequency_, index.frequency_hz);
  seconds_ += index.seconds;
  auto in = [&](const std::string& name) { return what + ": " + name; };
  if (!index.all.empty()) {
    ASSIGN_OR_RETURN(std::string folded, read(index.all));
    RETURN_IF_ERROR(AddFolded(folded, in(index.all), &all_));
  }
  for (const ProfileBinary& b : index.binaries) {
    std::string key;
    if (options_.by_name) {
      key = FileStem(b.path);
      if (key == "all") key = "all_";  // all.folded is every sample's
    } else if (!b.build_id.empty()) {
      key = b.build_id;
    } else {
      return FailedPrecondition(in(kProfileIndexName) + ": " + b.path +
                                " was merged by name (build_ids): merge it with --by-name");
    }
    std::unique_ptr<Merged>& slot = merged_[key];
    if (!slot) slot = std::make_unique<Merged>();
    Merged& m = *slot;
    if (m.path.empty()) m.path = b.path;
    if (!b.build_id.empty()) m.build_ids.insert(b.build_id);
    m.build_ids.insert(b.build_ids.begin(), b.build_ids.end());
    if (__builtin_add_overflow(m.samples, b.samples, &m.samples)) m.samples = UINT64_MAX;
    m.dwarf = m.dwarf || b.dwarf;
    if (!m.pprof) {
      m.pprof = std::make_unique<PprofBuilder>(frequency_ > 0 ? 1000000000ll / frequency_ : 0, 0);
    }
    for (const std::string& name : b.files) {
      ASSIGN_OR_RETURN(std::string data, read(name));
      Status st = Status::Ok();
      if (name.ends_with(".llvmprof")) {
        auto p = ParseLlvmText(data);
        st = p.ok() ? m.llvm.Merge(*p) : p.status();
      } else if (name.ends_with(".pprof")) {
        st = m.pprof->AddProfile(data);
      } else if (name.ends_with(".folded")) {
        st = AddFolded(data, in(name), &m.folded);
      }
      if (!st.ok()) return Status(st.code(), in(name) + ": " + st.message());
    }
  }
  inputs_++;
  return Status::Ok();
}

Status ProfileMerger::Add(const ProfileDir& dir) {
  return Add(
      dir.index(), [&](const std::string& name) { return dir.ReadFile(name); }, dir.path());
}

Result<MergeSummary> ProfileMerger::Write(const std::string& out) const {
  if (inputs_ == 0) return InvalidArgument("nothing to merge: name profile directories");
  MergeSummary summary;
  summary.inputs = inputs_;
  auto folded_text = [](const std::map<std::string, uint64_t>& lines) {
    std::string text;
    for (const auto& [line, n] : lines) text += line + " " + std::to_string(n) + "\n";
    return text;
  };
  ASSIGN_OR_RETURN(StagedDir dir, StagedDir::Open(out));
  ProfileIndex index;
  index.frequency_hz = frequency_;
  index.seconds = seconds_;
  index.merged_from = static_cast<uint64_t>(inputs_);
  index.all = "all.folded";
  index.flamegraph = "all.svg";
  RETURN_IF_ERROR(dir.Write(index.all, folded_text(all_)));
  RETURN_IF_ERROR(dir.Write(index.flamegraph, FlameGraphSvg(all_, "CPU samples, merged")));
  for (const auto& [key, m] : merged_) {
    const std::string stem = options_.by_name ? key : ProfileStem(m->path, key);
    ProfileBinary b;
    b.path = m->path;
    b.samples = m->samples;
    b.dwarf = m->dwarf;
    if (options_.by_name) {
      b.build_ids.assign(m->build_ids.begin(), m->build_ids.end());
    } else {
      b.build_id = key;
    }
    b.files.push_back(stem + ".folded");
    RETURN_IF_ERROR(dir.Write(b.files.back(), folded_text(m->folded)));
    ASSIGN_OR_RETURN(std::string pprof, m->pprof->Gzipped());
    b.files.push_back(stem + ".pprof");
    RETURN_IF_ERROR(dir.Write(b.files.back(), pprof));
    if (const std::string text = m->llvm.ToText(); !text.empty()) {
      b.files.push_back(stem + ".llvmprof");
      RETURN_IF_ERROR(dir.Write(b.files.back(), text));
    }
    index.binaries.push_back(std::move(b));
    summary.profiles++;
    summary.samples += m->samples;
  }
  index.samples = summary.samples;
  RETURN_IF_ERROR(dir.Write(kProfileIndexName, SerializeProfileIndex(index)));
  RETURN_IF_ERROR(dir.Commit());
  return summary;
}

Result<MergeSummary> MergeProfiles(const std::vector<std::string>& dirs, const std::string& out,
                                   const MergeOptions& options) {
  if (dirs.empty()) return InvalidArgument("nothing to merge: name profile directories");
  ProfileMerger merger(options);
  for (const std::string& d : dirs) {
    ASSIGN_OR_RETURN(ProfileDir dir, ProfileDir::Open(d));
    RETURN_IF_ERROR(merger.Add(dir));
  }
  return merger.Write(out);
}

}  // namespace syspgo::profile
