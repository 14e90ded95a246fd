// SPDX-License-Identifier: Apache-2.0
#include "common/prometheus.h"

namespace syspgo {
namespace {

std::string Escape(std::string_view s, bool quotes) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || (quotes && c == '"')) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string PrometheusLabelValue(std::string_view value) { return Escape(value, true); }

std::string PrometheusHeader(std::string_view name, std::string_view help, std::string_view type) {
  std::string out = "# HELP ";
  out.append(name).append(" ").append(Escape(help, false)).append("\n# TYPE ");
  out.append(name).append(" ").append(type).append("\n");
  return out;
}

}  // namespace syspgo
