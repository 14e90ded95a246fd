// SPDX-License-Identifier: Apache-2.0
// File: run/readiness.h
//
// When a container counts as ready: its entrypoint exits 0 (`exit`), a TCP
// port accepts a connection (`tcp:PORT`), a path appears in its root file
// system (`file:PATH`), or a line of its output matches (`log:REGEX`).
#ifndef SYSPGO_RUN_READINESS_H_
#define SYSPGO_RUN_READINESS_H_

#include <cstdint>
#include <memory>
#include <regex>
#include <string>

#include "common/status.h"

namespace syspgo::run {

struct ReadyCondition {
  enum Kind { kExit, kTcp, kFile, kLog };
  Kind kind = kExit;
  uint16_t port = 0;
  std::string path;     // for kFile, absolute in the container
  std::string pattern;  // for kLog
  std::shared_ptr<const std::regex> regex;

  static Result<ReadyCondition> Parse(const std::string& text);
  std::string ToString() const;
};

// Whether 127.0.0.1:port accepts a TCP connection now.
bool TcpPortAccepts(uint16_t port);

// Whether `path` (absolute, in the container) exists under rootfs, resolving
// symlinks as the container would (inside rootfs).
bool PathExistsInRoot(int rootfs_fd, const std::string& path);
// The canonical path inside the root (symlinks resolved inside it) of an
// absolute or root-relative path: "/bin/sh" -> "/bin/busybox".
Result<std::string> ResolveInRoot(int rootfs_fd, const std::string& path);

// Splits output into lines and matches each complete line against a regex.
class LineMatcher {
 public:
  explicit LineMatcher(std::shared_ptr<const std::regex> regex) : regex_(std::move(regex)) {}
  // Returns true once a line has matched.
  bool Feed(std::string_view data);

 private:
  std::shared_ptr<const std::regex> regex_;
  std::string partial_;
  bool matched_ = false;
};

}  // namespace syspgo::run

#endif  // SYSPGO_RUN_READINESS_H_
