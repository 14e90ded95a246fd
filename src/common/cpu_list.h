// SPDX-License-Identifier: Apache-2.0
// File: common/cpu_list.h
//
// CPU lists as the kernel writes them ("0-3,5", /sys/devices/system/cpu/
// online, cpuset.cpus) and as policies give them: parsed and written once.
#ifndef SYSPGO_COMMON_CPU_LIST_H_
#define SYSPGO_COMMON_CPU_LIST_H_

#include <sched.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syspgo {

// The highest CPU number a list may name, plus one: what a cpu_set_t holds.
inline constexpr int kMaxCpus = CPU_SETSIZE;

// "0-3,5" (spaces around the parts and a final newline allowed) -> the
// CPUs, ascending, each once. InvalidArgument for an empty list, a part
// that is not N or N-M with N <= M, or a CPU >= kMaxCpus.
Result<std::vector<int>> ParseCpuList(std::string_view text);

// The shortest list for `cpus` (any order, repeats allowed): "0-3,5".
std::string FormatCpuList(const std::vector<int>& cpus);

// The CPUs in a set, ascending.
std::vector<int> CpusOf(const cpu_set_t& set);

// The online CPUs (/sys/devices/system/cpu/online; 0 to the count the C
// library reports when that cannot be read).
std::vector<int> OnlineCpus();

}  // namespace syspgo

#endif  // SYSPGO_COMMON_CPU_LIST_H_
