// SPDX-License-Identifier: Apache-2.0
// File: common/log.h
//
// Minimal leveled logging to stderr. The level is owned by the caller (the CLI
// sets it from -v) and passed as a Logger; there is no global logger.
#ifndef SYSPGO_COMMON_LOG_H_
#define SYSPGO_COMMON_LOG_H_

#include <string_view>

namespace syspgo {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::kWarning) : level_(level) {}
  bool enabled(LogLevel level) const { return level <= level_; }
  // Thread-safe: each line is written with one write(2).
  void Log(LogLevel level, std::string_view message) const;
  void Error(std::string_view m) const { Log(LogLevel::kError, m); }
  void Warning(std::string_view m) const { Log(LogLevel::kWarning, m); }
  void Info(std::string_view m) const { Log(LogLevel::kInfo, m); }
  void Debug(std::string_view m) const { Log(LogLevel::kDebug, m); }

 private:
  LogLevel level_;
};

}  // namespace syspgo

#endif  // SYSPGO_COMMON_LOG_H_
