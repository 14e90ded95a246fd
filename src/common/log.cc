// SPDX-License-Identifier: Apache-2.0
#include "common/log.h"

#include <unistd.h>

#include <string>

namespace syspgo {

void Logger::Log(LogLevel level, std::string_view message) const {
  if (!enabled(level)) return;
  static constexpr std::string_view kNames[] = {"error", "warning", "info", "debug"};
  std::string line = "syspgo: ";
  if (level != LogLevel::kInfo) {
    line += kNames[static_cast<int>(level)];
    line += ": ";
  }
  line += message;
  line += '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace syspgo
