// SPDX-License-Identifier: Apache-2.0
#include "node/mount_server_protocol.h"

#include "common/file_util.h"

namespace syspgo::node {
namespace {

// The StatusCode with number `n`; kInternal for ok and for any number no
// StatusCode has.
StatusCode CodeOf(std::string_view n) {
  uint64_t v = 0;
  if (!ParseDecimal(n, &v) || v <= static_cast<uint64_t>(StatusCode::kOk) ||
      v > static_cast<uint64_t>(StatusCode::kResourceExhausted)) {
    return StatusCode::kInternal;
  }
  return static_cast<StatusCode>(v);
}

}  // namespace

std::string MountedLine(std::string_view image, std::string_view mnt, std::string_view mode) {
  std::string out = "mounted ";
  out.append(image).append(" at ").append(mnt).append(" (mode ").append(mode).append(")\n");
  return out;
}

std::string SettledLine() { return "settled\n"; }

std::string ErrorLine(const Status& status) {
  const StatusCode code = status.ok() ? StatusCode::kInternal : status.code();
  std::string message = status.ok() ? "an error line for no error" : status.message();
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return "error " + std::to_string(static_cast<int>(code)) + " " + message + "\n";
}

ServerLine ParseServerLine(std::string_view line) {
  ServerLine out;
  if (line.starts_with("mounted ")) {
    out.kind = ServerLine::kMounted;
  } else if (line == "settled") {
    out.kind = ServerLine::kSettled;
  } else if (line.starts_with("error ")) {
    out.kind = ServerLine::kError;
    std::string_view rest = line.substr(6);
    const size_t space = rest.find(' ');
    const std::string_view number = rest.substr(0, space);
    const std::string_view message =
        space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    const StatusCode code = CodeOf(number);
    if (code == StatusCode::kInternal && number != std::to_string(static_cast<int>(code))) {
      out.error = Internal("the mount server said: " + std::string(line));
    } else {
      out.error = Status(code, std::string(message));
    }
  }
  return out;
}

}  // namespace syspgo::node
