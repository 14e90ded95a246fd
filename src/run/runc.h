// SPDX-License-Identifier: Apache-2.0
// File: run/runc.h
//
// The runc command line, one call per method. Every call names the state
// root, so our containers never mix with another runc user's.
#ifndef SYSPGO_RUN_RUNC_H_
#define SYSPGO_RUN_RUNC_H_

#include <string>

#include "common/process.h"
#include "common/status.h"

namespace syspgo::run {

// A failed `runc create` as a status: NotFound when the command is not in
// the image, PermissionDenied when it cannot be executed, else Internal
// with runc's error message (from its JSON log).
Status CreateFailure(const ExitInfo& exit, const std::string& log);

class Runc {
 public:
  Runc(std::string binary, std::string state_root)
      : binary_(std::move(binary)), state_root_(std::move(state_root)) {}

  // `runc create`: the container's init waits for Start(). Its stdout and
  // stderr are the given fds; stdin is /dev/null. Returns init's pid.
  Result<pid_t> Create(const std::string& id, const std::string& bundle, int stdout_fd,
                       int stderr_fd);
  Status Start(const std::string& id);
  Status Kill(const std::string& id, int signal, bool all = false);
  // `runc delete --force`; a container that does not exist is fine.
  Status Delete(const std::string& id);

 private:
  std::vector<std::string> Base() const;
  std::string binary_;
  std::string state_root_;
};

}  // namespace syspgo::run

#endif  // SYSPGO_RUN_RUNC_H_
