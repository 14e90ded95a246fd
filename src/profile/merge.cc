// SPDX-License-Identifier: Apache-2.0
#include "profile/merge.h"

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common/file_util.h"
#include "profile/flamegraph.h"
#include "profile/llvm_profile.h"
#include "profile/pprof_profile.h"

namespace syspgo::profile {
namespace {

constexpr size_t kMaxProfileBytes = size_t{1} << 30;

struct Merged {
  std::string path;
  std::set<std::string> build_ids;
  uint64_t samples = 0;
  bool dwarf = false;
  LlvmProfile llvm;
  std::unique_ptr<PprofBuilder> pprof;
  std::map<std::string, uint64_t> folded;
};

Status AddFolded(const std::string& text, const std::string& file,
                 std::map<std::string, uint64_t>* out) {
  for (std::string_view line : SplitLines(text)) {
    if (line.empty()) continue;
    const size_t sp = line.rfind(' ');
    uint64_t n = 0;
    if (sp == std::string_view::npos) return Corruption(file + ": a folded line without a count");
    for (char c : line.substr(sp + 1)) {
      if (c < '0' || c > '9') return Corruption(file + ": a folded line without a count");
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    (*out)[std::string(line.substr(0, sp))] += n;
  }
  return Status::Ok();
}

}  // namespace

Result<MergeSummary> MergeProfiles(const std::vector<std::string>& dirs, const std::string& out,
                                   const MergeOptions& options) {
  if (dirs.empty()) return InvalidArgument("nothing to merge: name profile directories");
  MergeSummary summary;
  std::map<std::string, Merged> merged;  // by build-id, or by file name
  std::map<std::string, uint64_t> all;
  int frequency = 0;
  double seconds = 0;
  for (const std::string& dir : dirs) {
    const std::string index_path = JoinPath(dir, "profiles.json");
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path));
    auto index = nlohmann::json::parse(text, nullptr, false);
    if (!index.is_object() || !index.contains("binaries") || !index["binaries"].is_array()) {
      return Corruption(index_path + ": not a profile index");
    }
    frequency = std::max(frequency, index.value("frequency_hz", 0));
    seconds += index.value("seconds", 0.0);
    if (index.contains("all") && index["all"].is_string()) {
      const std::string file = JoinPath(dir, BaseName(index["all"].get<std::string>()));
      ASSIGN_OR_RETURN(std::string folded, ReadFileToString(file, kMaxProfileBytes));
      RETURN_IF_ERROR(AddFolded(folded, file, &all));
    }
    for (const auto& b : index["binaries"]) {
      if (!b.is_object() || !b.contains("build_id") || !b.contains("path") ||
          !b.contains("files")) {
        return Corruption(index_path + ": a binary without build_id, path or files");
      }
      const std::string build_id = b["build_id"].get<std::string>();
      const std::string path = b["path"].get<std::string>();
      Merged& m = merged[options.by_name ? BaseName(path) : build_id];
      if (m.path.empty()) m.path = path;
      m.build_ids.insert(build_id);
      m.samples += b.value("samples", uint64_t{0});
      m.dwarf = m.dwarf || b.value("dwarf", false);
      if (!m.pprof)
        m.pprof = std::make_unique<PprofBuilder>(frequency > 0 ? 1000000000ll / frequency : 0, 0);
      for (const auto& f : b["files"]) {
        // Names only: an index does not point outside its directory.
        const std::string name = BaseName(f.get<std::string>());
        const std::string file = JoinPath(dir, name);
        ASSIGN_OR_RETURN(std::string data, ReadFileToString(file, kMaxProfileBytes));
        if (name.ends_with(".llvmprof")) {
          auto p = ParseLlvmText(data);
          if (!p.ok()) return Corruption(file + ": " + p.status().message());
          m.llvm.Merge(*p);
        } else if (name.ends_with(".pprof")) {
          if (Status st = m.pprof->AddProfile(data); !st.ok())
            return Corruption(file + ": " + st.message());
        } else if (name.ends_with(".folded")) {
          RETURN_IF_ERROR(AddFolded(data, file, &m.folded));
        }
      }
    }
    summary.inputs++;
  }
  RETURN_IF_ERROR(MakeDirs(out, 0755));
  auto folded_text = [](const std::map<std::string, uint64_t>& lines) {
    std::string text;
    for (const auto& [line, n] : lines) text += line + " " + std::to_string(n) + "\n";
    return text;
  };
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(out, "all.folded"), folded_text(all), 0644, false));
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(out, "all.svg"),
                                  FlameGraphSvg(all, "CPU samples, merged"), 0644, false));
  nlohmann::json binaries = nlohmann::json::array();
  for (const auto& [key, m] : merged) {
    const std::string stem = options.by_name ? key : BaseName(m.path) + "-" + key;
    nlohmann::json files = nlohmann::json::array();
    RETURN_IF_ERROR(
        WriteFileAtomic(JoinPath(out, stem + ".folded"), folded_text(m.folded), 0644, false));
    files.push_back(stem + ".folded");
    ASSIGN_OR_RETURN(std::string pprof, m.pprof->Gzipped());
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(out, stem + ".pprof"), pprof, 0644, false));
    files.push_back(stem + ".pprof");
    if (const std::string text = m.llvm.ToText(); !text.empty()) {
      RETURN_IF_ERROR(WriteFileAtomic(JoinPath(out, stem + ".llvmprof"), text, 0644, false));
      files.push_back(stem + ".llvmprof");
    }
    nlohmann::json entry = {
        {"path", m.path}, {"samples", m.samples}, {"dwarf", m.dwarf}, {"files", files}};
    if (options.by_name) {
      entry["build_ids"] = m.build_ids;
    } else {
      entry["build_id"] = key;
    }
    binaries.push_back(entry);
    summary.profiles++;
    summary.samples += m.samples;
  }
  nlohmann::json index = {{"frequency_hz", frequency},     {"seconds", seconds},
                          {"merged_from", summary.inputs}, {"samples", summary.samples},
                          {"all", "all.folded"},           {"flamegraph", "all.svg"},
                          {"binaries", binaries}};
  RETURN_IF_ERROR(
      WriteFileAtomic(JoinPath(out, "profiles.json"), index.dump(2) + "\n", 0644, false));
  return summary;
}

}  // namespace syspgo::profile
