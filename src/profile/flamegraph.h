// SPDX-License-Identifier: Apache-2.0
// File: profile/flamegraph.h
//
// A flame graph for people, as an SVG file any browser shows: one box per
// function on a stack, its width its share of the samples, callers below
// callees, each box's tooltip its name, samples and share. Built from
// folded stacks ("root;...;leaf count"), as flamegraph.pl draws them.
#ifndef SYSPGO_PROFILE_FLAMEGRAPH_H_
#define SYSPGO_PROFILE_FLAMEGRAPH_H_

#include <cstdint>
#include <map>
#include <string>

namespace syspgo::profile {

std::string FlameGraphSvg(const std::map<std::string, uint64_t>& folded, const std::string& title);

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_FLAMEGRAPH_H_
