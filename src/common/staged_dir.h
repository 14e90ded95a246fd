// SPDX-License-Identifier: Apache-2.0
// File: common/staged_dir.h
//
// Files written into a directory together, or not at all. Each file goes
// into a staging directory inside it (.staging-XXXXXX) through that
// directory's fd: its name must be a plain file name and is created with
// O_EXCL | O_NOFOLLOW, so no name (say "../x", or one a symlink already
// holds) writes anywhere else. Commit() renames them into the directory,
// replacing files of the same names. A StagedDir destroyed before
// Commit() (any failure on the way) removes the staging directory, and
// the directory itself when Open made it and nothing else is in it: a
// failure leaves nothing behind.
//
//   ASSIGN_OR_RETURN(StagedDir out, StagedDir::Open(dir));
//   RETURN_IF_ERROR(out.Write("profiles.json", text));
//   RETURN_IF_ERROR(out.Commit());
//
// Not thread-safe; move-only.
#ifndef SYSPGO_COMMON_STAGED_DIR_H_
#define SYSPGO_COMMON_STAGED_DIR_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace syspgo {

class StagedDir {
 public:
  // Opens the directory `path`, made (with its parents, `mode`) when
  // missing, and makes its staging directory.
  static Result<StagedDir> Open(const std::string& path, mode_t mode = 0755);
  StagedDir() = default;
  ~StagedDir();
  StagedDir(StagedDir&& other) noexcept;
  StagedDir& operator=(StagedDir&& other) noexcept;
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  // Stages the file `name` (a plain file name, once each).
  Status Write(std::string_view name, std::string_view content, mode_t mode = 0644);
  // Moves every staged file into the directory.
  Status Commit();
  const std::string& path() const { return path_; }

 private:
  void Abandon();

  std::string path_;
  UniqueFd dir_;
  UniqueFd staging_;
  std::string staging_name_;
  bool created_ = false;  // Open made path_
  std::vector<std::string> names_;
};

}  // namespace syspgo

#endif  // SYSPGO_COMMON_STAGED_DIR_H_
