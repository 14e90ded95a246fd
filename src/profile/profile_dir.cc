// SPDX-License-Identifier: Apache-2.0
#include "profile/profile_dir.h"

#include <fcntl.h>

#include "common/file_util.h"

namespace syspgo::profile {
namespace {

bool StemChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '+' || c == '-';
}

constexpr std::string_view kProfileExtensions[] = {".llvmprof", ".pprof", ".folded"};

Status InIndex(const Status& st, std::string_view where) {
  return Corruption(std::string(kProfileIndexName) + ": " + std::string(where) + st.message());
}

Result<ProfileBinary> ParseBinary(const Json& j) {
  if (!j.is_object()) return Corruption("not an object");
  ProfileBinary b;
  ASSIGN_OR_RETURN(b.path, GetString(j, "path", true));
  ASSIGN_OR_RETURN(b.build_id, GetString(j, "build_id"));
  ASSIGN_OR_RETURN(b.build_ids, GetStringArray(j, "build_ids"));
  ASSIGN_OR_RETURN(b.samples, GetUint64(j, "samples"));
  ASSIGN_OR_RETURN(b.dwarf, GetBool(j, "dwarf"));
  ASSIGN_OR_RETURN(b.files, GetStringArray(j, "files", true));
  if (b.build_id.empty() == b.build_ids.empty()) {
    return Corruption("needs a build_id (or, merged by name, build_ids)");
  }
  if (!b.build_id.empty() && !IsBuildId(b.build_id)) {
    return Corruption("build_id '" + b.build_id.substr(0, 80) + "' is not a hex build-id");
  }
  for (const std::string& id : b.build_ids) {
    if (!IsBuildId(id)) return Corruption("build_ids holds '" + id.substr(0, 80) + "'");
  }
  for (const std::string& f : b.files) {
    if (!IsProfileFileName(f) || f == kProfileIndexName || f == "all.svg") {
      return Corruption("files holds '" + f.substr(0, 80) + "', not a profile file name");
    }
  }
  return b;
}

}  // namespace

bool IsBuildId(std::string_view id) {
  if (id.size() < 2 || id.size() > 128 || id.size() % 2 != 0) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsProfileFileName(std::string_view name) {
  if (!IsPlainFileName(name) || name[0] == '.') return false;
  for (char c : name) {
    if (!StemChar(c)) return false;
  }
  if (name == kProfileIndexName || name == "all.svg") return true;
  for (std::string_view ext : kProfileExtensions) {
    if (name.size() > ext.size() && name.ends_with(ext)) return true;
  }
  return false;
}

std::string FileStem(std::string_view path) {
  std::string stem = BaseName(path);
  for (char& c : stem) {
    if (!StemChar(c)) c = '_';
  }
  if (stem.size() > 100) stem.resize(100);
  if (!stem.empty() && stem[0] == '.') stem[0] = '_';
  return stem.empty() ? "bin" : stem;
}

std::string ProfileStem(std::string_view path, std::string_view build_id) {
  return FileStem(path) + "-" + std::string(build_id);
}

std::string SerializeProfileIndex(const ProfileIndex& index) {
  Json binaries = Json::array();
  for (const ProfileBinary& b : index.binaries) {
    Json e = {{"path", b.path}, {"samples", b.samples}, {"dwarf", b.dwarf}, {"files", b.files}};
    if (!b.build_id.empty()) {
      e["build_id"] = b.build_id;
    } else {
      e["build_ids"] = b.build_ids;
    }
    binaries.push_back(std::move(e));
  }
  Json j = {
      {"frequency_hz", index.frequency_hz}, {"seconds", index.seconds}, {"samples", index.samples}};
  if (index.stats.is_object()) j["stats"] = index.stats;
  if (index.merged_from > 0) j["merged_from"] = index.merged_from;
  if (!index.all.empty()) j["all"] = index.all;
  if (!index.flamegraph.empty()) j["flamegraph"] = index.flamegraph;
  j["binaries"] = std::move(binaries);
  return j.dump(2) + "\n";
}

Result<ProfileIndex> ParseProfileIndex(std::string_view text) {
  auto parsed = ParseJsonObject(text, kProfileIndexName);
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  ProfileIndex index;
  auto field = [&](auto result, auto* into) -> Status {
    if (!result.ok()) return InIndex(result.status(), "");
    *into = std::move(*result);
    return Status::Ok();
  };
  RETURN_IF_ERROR(field(GetInt64(j, "frequency_hz"), &index.frequency_hz));
  RETURN_IF_ERROR(field(GetDouble(j, "seconds"), &index.seconds));
  RETURN_IF_ERROR(field(GetUint64(j, "samples"), &index.samples));
  RETURN_IF_ERROR(field(GetUint64(j, "merged_from"), &index.merged_from));
  RETURN_IF_ERROR(field(GetString(j, "all"), &index.all));
  RETURN_IF_ERROR(field(GetString(j, "flamegraph"), &index.flamegraph));
  if (index.frequency_hz < 0 || index.frequency_hz > 1000000) {
    return Corruption(std::string(kProfileIndexName) + ": frequency_hz out of range");
  }
  if (!(index.seconds >= 0)) {
    return Corruption(std::string(kProfileIndexName) + ": seconds out of range");
  }
  if (!index.all.empty() && (!IsProfileFileName(index.all) || !index.all.ends_with(".folded"))) {
    return Corruption(std::string(kProfileIndexName) + ": 'all' is not a .folded file name");
  }
  if (!index.flamegraph.empty() && index.flamegraph != "all.svg") {
    return Corruption(std::string(kProfileIndexName) + ": 'flamegraph' is not all.svg");
  }
  if (auto stats = j.find("stats"); stats != j.end() && stats->is_object()) index.stats = *stats;
  auto binaries = j.find("binaries");
  if (binaries == j.end() || !binaries->is_array()) {
    return Corruption(std::string(kProfileIndexName) + ": not a profile index (no binaries)");
  }
  for (size_t i = 0; i < binaries->size(); ++i) {
    auto b = ParseBinary((*binaries)[i]);
    if (!b.ok()) return InIndex(b.status(), "binaries[" + std::to_string(i) + "]: ");
    index.binaries.push_back(std::move(*b));
  }
  return index;
}

Result<ProfileDir> ProfileDir::Open(const std::string& path) {
  ProfileDir dir;
  dir.path_ = path;
  ASSIGN_OR_RETURN(dir.fd_, UniqueFd::Open(path, O_RDONLY | O_DIRECTORY));
  ASSIGN_OR_RETURN(std::string text, dir.ReadFile(kProfileIndexName));
  auto index = ParseProfileIndex(text);
  if (!index.ok()) return index.status().WithContext(path);
  dir.index_ = std::move(*index);
  return dir;
}

Result<std::string> ProfileDir::ReadFile(std::string_view name) const {
  if (!IsProfileFileName(name)) {
    return Corruption(JoinPath(path_, name) + ": not a profile file name");
  }
  return ReadFileAt(fd_.get(), name, kMaxProfileFileBytes, path_);
}

}  // namespace syspgo::profile
