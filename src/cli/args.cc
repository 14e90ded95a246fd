// SPDX-License-Identifier: Apache-2.0
#include "cli/args.h"

#include <algorithm>

namespace syspgo::cli {

std::optional<std::string> ParsedArgs::Get(const std::string& name) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  return std::prev(range.second)->second;  // the last one wins
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

Result<int> ParsedArgs::GetInt(const std::string& name, int fallback, int min, int max) const {
  auto v = Get(name);
  if (!v) return fallback;
  char* end = nullptr;
  long n = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || n < min || n > max) {
    return InvalidArgument("--" + name + " needs a number from " + std::to_string(min) + " to " +
                           std::to_string(max) + ", got '" + *v + "'");
  }
  return static_cast<int>(n);
}

Result<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                             const std::vector<OptionSpec>& specs, size_t stop_after_positionals) {
  ParsedArgs out;
  auto find = [&](const std::string& name) -> const OptionSpec* {
    for (const auto& s : specs) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  auto find_short = [&](char c) -> const OptionSpec* {
    for (const auto& s : specs) {
      if (s.short_name == c) return &s;
    }
    return nullptr;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.rest.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      return out;
    }
    if (stop_after_positionals > 0 && out.positional.size() == stop_after_positionals) {
      out.rest.assign(args.begin() + static_cast<long>(i), args.end());
      if (!out.rest.empty() && out.rest.front() == "--") out.rest.erase(out.rest.begin());
      return out;
    }
    if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      std::string name = a.substr(2);
      std::optional<std::string> value;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      const OptionSpec* spec = find(name);
      if (!spec) return InvalidArgument("unknown option --" + name);
      if (spec->takes_value) {
        if (!value) {
          if (i + 1 >= args.size()) return InvalidArgument("--" + name + " needs a value");
          value = args[++i];
        }
        out.values_.emplace(name, *value);
      } else {
        if (value) return InvalidArgument("--" + name + " takes no value");
        out.values_.emplace(name, "");
      }
      continue;
    }
    if (a.size() == 2 && a[0] == '-' && a[1] != '-') {
      const OptionSpec* spec = find_short(a[1]);
      if (!spec) return InvalidArgument("unknown option " + a);
      if (spec->takes_value) {
        if (i + 1 >= args.size()) return InvalidArgument(a + " needs a value");
        out.values_.emplace(spec->name, args[++i]);
      } else {
        out.values_.emplace(spec->name, "");
      }
      continue;
    }
    out.positional.push_back(a);
  }
  return out;
}

}  // namespace syspgo::cli
