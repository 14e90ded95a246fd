// SPDX-License-Identifier: Apache-2.0
// File: profile/profile_dir.h
//
// A profile directory: what `syspgo profile record`, `merge` and `pull`
// write, and `merge` and `push` read. Its index, profiles.json, names the
// per-binary files (docs/profile.md, "Output"):
//
//   {"frequency_hz": 99, "seconds": 10.0, "samples": 1234,
//    "all": "all.folded", "flamegraph": "all.svg",
//    "stats": {...loss counters...},          (record)
//    "merged_from": 3,                         (merge, pull)
//    "binaries": [{"path": "/usr/bin/app", "build_id": "3f2a...",
//                  "samples": 1200, "dwarf": true,
//                  "files": ["app-3f2a....llvmprof", "app-3f2a....pprof",
//                            "app-3f2a....folded"]}]}
//
// (a merge --by-name gives "build_ids": [...] in place of "build_id").
//
// An index may come from another host through a registry: every field is
// type-checked, build-ids are hex, file names are plain names of the kinds
// a profile directory holds, and names become paths only through the
// directory's fd (ProfileDir below; common/staged_dir.h for writing).
// The encoder and the decoder are side by side in profile_dir.cc.
#ifndef SYSPGO_PROFILE_PROFILE_DIR_H_
#define SYSPGO_PROFILE_PROFILE_DIR_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_fields.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace syspgo::profile {

inline constexpr char kProfileIndexName[] = "profiles.json";
// The largest file of a profile directory read (and the largest layer of
// a profile artifact pulled).
inline constexpr size_t kMaxProfileFileBytes = size_t{64} << 20;

struct ProfileBinary {
  std::string path;                    // the binary's path in its process's view
  std::string build_id;                // hex; "" in a --by-name merge
  std::vector<std::string> build_ids;  // a --by-name merge: every build in it
  uint64_t samples = 0;
  bool dwarf = false;
  std::vector<std::string> files;  // plain names in the directory
};

struct ProfileIndex {
  int64_t frequency_hz = 0;
  double seconds = 0;
  uint64_t samples = 0;
  std::string all;         // "all.folded", or "" when none
  std::string flamegraph;  // "all.svg", or ""
  uint64_t merged_from = 0;
  Json stats;  // record's loss counters (an object), or null
  std::vector<ProfileBinary> binaries;
};

std::string SerializeProfileIndex(const ProfileIndex& index);
Result<ProfileIndex> ParseProfileIndex(std::string_view text);

// A build-id as the recorder writes it: 2 to 128 lowercase hex digits, an
// even number of them (a GNU build-id note's bytes, or 40 digits derived
// from a Go build ID: docs/profile.md).
bool IsBuildId(std::string_view id);
// A file name a profile directory may hold: a plain name, not hidden,
// made of letters, digits and . _ + - only, ending in .llvmprof, .pprof or
// .folded (or profiles.json, all.svg).
bool IsProfileFileName(std::string_view name);
// The part of a binary's file name that names its profiles: its base
// name, every character other than letters, digits and . _ + - made '_',
// never hidden, at most 100 characters ("bin" when nothing is left).
std::string FileStem(std::string_view path);
// <FileStem(path)>-<build_id>: the stem of a binary's files.
std::string ProfileStem(std::string_view path, std::string_view build_id);

// A profile directory opened for reading: its index, and its files read
// through the directory's fd (no symlink followed, no name outside it).
class ProfileDir {
 public:
  static Result<ProfileDir> Open(const std::string& path);
  const ProfileIndex& index() const { return index_; }
  const std::string& path() const { return path_; }
  Result<std::string> ReadFile(std::string_view name) const;

 private:
  std::string path_;
  UniqueFd fd_;
  ProfileIndex index_;
};

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_PROFILE_DIR_H_
