// SPDX-License-Identifier: Apache-2.0
// File: cli/args.h
//
// A small command-line parser: "--name value", "--name=value", boolean
// flags, repeatable options, and positional arguments; "--" ends options.
#ifndef SYSPGO_CLI_ARGS_H_
#define SYSPGO_CLI_ARGS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace syspgo::cli {

struct OptionSpec {
  std::string name;  // without dashes
  bool takes_value = true;
  char short_name = 0;
};

class ParsedArgs {
 public:
  std::optional<std::string> Get(const std::string& name) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  Result<int> GetInt(const std::string& name, int fallback, int min, int max) const;

  std::vector<std::string> positional;  // before "--" or the first positional stop
  std::vector<std::string> rest;        // after the stop point

 private:
  friend Result<ParsedArgs> ParseArgs(const std::vector<std::string>&,
                                      const std::vector<OptionSpec>&, size_t);
  std::multimap<std::string, std::string> values_;
};

// Parses args against specs. After `stop_after_positionals` positional
// arguments, everything else (minus a leading "--") goes to `rest`; 0 means
// never stop.
Result<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                             const std::vector<OptionSpec>& specs,
                             size_t stop_after_positionals = 0);

}  // namespace syspgo::cli

#endif  // SYSPGO_CLI_ARGS_H_
