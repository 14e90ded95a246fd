// SPDX-License-Identifier: Apache-2.0
#include "common/cpu_list.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/file_util.h"

namespace syspgo {
namespace {

// A CPU number that is the whole of `s`, below kMaxCpus.
bool ParseCpu(std::string_view s, int* out) {
  uint64_t v = 0;
  if (!ParseDecimal(s, &v) || v >= static_cast<uint64_t>(kMaxCpus)) return false;
  *out = static_cast<int>(v);
  return true;
}

}  // namespace

Result<std::vector<int>> ParseCpuList(std::string_view text) {
  std::string_view body = TrimSpace(text);
  std::set<int> cpus;
  std::vector<std::string_view> parts = Split(body, ',', true);
  if (!body.empty() && body.back() == ',') parts.emplace_back();  // Split drops a last empty part
  for (std::string_view part : parts) {
    part = TrimSpace(part);
    const size_t dash = part.find('-');
    int lo = 0, hi = 0;
    const bool ok = dash == std::string_view::npos
                        ? ParseCpu(part, &lo) && (hi = lo, true)
                        : ParseCpu(TrimSpace(part.substr(0, dash)), &lo) &&
                              ParseCpu(TrimSpace(part.substr(dash + 1)), &hi) && lo <= hi;
    if (!ok) {
      return InvalidArgument("bad CPU list '" + std::string(body) + "' (want N or N-M, N-M,...; " +
                             "CPUs below " + std::to_string(kMaxCpus) + ")");
    }
    for (int c = lo; c <= hi; ++c) cpus.insert(c);
  }
  if (cpus.empty()) return InvalidArgument("empty CPU list");
  return std::vector<int>(cpus.begin(), cpus.end());
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::vector<int> sorted = cpus;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string out;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(sorted[i]);
    if (j > i) out += '-' + std::to_string(sorted[j]);
    i = j + 1;
  }
  return out;
}

std::vector<int> CpusOf(const cpu_set_t& set) {
  std::vector<int> out;
  for (int c = 0; c < kMaxCpus; ++c) {
    if (CPU_ISSET(c, &set)) out.push_back(c);
  }
  return out;
}

std::vector<int> OnlineCpus() {
  auto text = ReadFileToString("/sys/devices/system/cpu/online", 65536);
  if (text.ok()) {
    auto cpus = ParseCpuList(*text);
    if (cpus.ok()) return *cpus;
  }
  std::vector<int> out;
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  for (int i = 0; i < n && i < kMaxCpus; ++i) out.push_back(i);
  return out;
}

}  // namespace syspgo
