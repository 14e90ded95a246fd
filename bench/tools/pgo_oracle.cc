// SPDX-License-Identifier: Apache-2.0
// The sample profile a perfect observer would write: from the exact
// execution count of every instruction and every call of a run (valgrind
// callgrind --dump-instr=yes, turned into "addresses" by
// bench/pgo/oracle.py), an LLVM sample profile of a binary with
//   - each place's count: the most any of its instructions ran (what
//     llvm-profgen writes from branch records, here without sampling);
//   - each call site's targets: how many calls each got.
// The ground truth the estimates of profile/count_estimate.h are compared
// with (llvm-profdata overlap), and what a line-based profile can reach at
// best when a program is rebuilt with it (bench/pgo/corpus.py, method
// "oracle"). Not part of the product.
//
//   usage: syspgo-pgo-oracle BINARY COUNTS > profile.llvmprof
//   COUNTS lines: "i ADDRESS COUNT" (an instruction ran COUNT times) and
//                 "c ADDRESS CALLEE COUNT" (the call at ADDRESS called
//                 CALLEE COUNT times); addresses are the binary's link-time
//                 virtual addresses, in hex.
//
// And the profile writer's estimate from the samples of a recording, with
// other options, so that estimators can be compared on one recording:
//   usage: syspgo-pgo-oracle estimate BINARY SAMPLES counts|samples MIN
//   SAMPLES lines: "s OFFSET COUNT" (leaf samples at a file offset) and
//                  "e OFFSET CALLEE COUNT" (samples in CALLEE called from
//                  the call at OFFSET); from the recording's .pprof
//                  (bench/pgo/oracle.py).
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "profile/count_estimate.h"
#include "profile/elf_file.h"
#include "profile/llvm_profile.h"
#include "profile/symbolizer.h"

using syspgo::profile::ElfFile;
using syspgo::profile::InlineChain;
using syspgo::profile::LlvmProfile;
using syspgo::profile::Symbolizer;

namespace {

// A place: the chain's functions, lines and discriminators.
using Place = std::vector<std::tuple<std::string, uint32_t, uint32_t, uint32_t>>;

Place PlaceOf(const InlineChain& chain) {
  Place p;
  for (const auto& f : chain) p.emplace_back(f.function, f.line, f.start_line, f.discriminator);
  return p;
}

int Estimate(const ElfFile& elf, std::istream& in, bool counts, uint64_t min_samples) {
  Symbolizer symbolizer;
  syspgo::profile::CountEstimator estimator(&symbolizer);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string kind, off_text;
    f >> kind >> off_text;
    auto addr = elf.AddressOfOffset(std::stoull(off_text, nullptr, 16));
    if (!addr) continue;
    if (kind == "s") {
      uint64_t count = 0;
      f >> count;
      estimator.AddSample(elf, *addr, count);
    } else if (kind == "e") {
      std::string callee;
      uint64_t count = 0;
      f >> callee >> count;
      if (symbolizer.Symbolize(elf, *addr).back().function == callee) continue;
      estimator.AddCall(elf, *addr, callee, count);
    }
  }
  std::cout << (counts ? estimator.Counts({.min_samples = min_samples}).ToText()
                       : estimator.samples().ToText());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "estimate") {
    auto elf = ElfFile::Load(argv[2]);
    std::ifstream in(argv[3]);
    if (!elf.ok() || !in) {
      std::fprintf(stderr, "pgo-oracle: cannot read %s or %s\n", argv[2], argv[3]);
      return 1;
    }
    return Estimate(*elf, in, std::string(argv[4]) == "counts", std::stoull(argv[5]));
  }
  if (argc != 3) {
    std::fprintf(stderr, "usage: syspgo-pgo-oracle BINARY COUNTS > profile.llvmprof\n");
    return 2;
  }
  auto elf = ElfFile::Load(argv[1]);
  if (!elf.ok()) {
    std::fprintf(stderr, "pgo-oracle: %s\n", elf.status().ToString().c_str());
    return 1;
  }
  std::ifstream in(argv[2]);
  if (!in) {
    std::fprintf(stderr, "pgo-oracle: cannot read %s\n", argv[2]);
    return 1;
  }
  Symbolizer symbolizer;
  std::map<Place, std::pair<InlineChain, uint64_t>> places;  // the max count per place
  LlvmProfile profile;
  std::string line;
  size_t lines = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string kind, addr_text;
    f >> kind >> addr_text;
    const uint64_t addr = std::stoull(addr_text, nullptr, 16);
    if (kind == "i") {
      uint64_t count = 0;
      f >> count;
      const InlineChain& chain = symbolizer.Symbolize(*elf, addr);
      auto& [c, max] = places[PlaceOf(chain)];
      if (c.empty()) c = chain;
      max = std::max(max, count);
    } else if (kind == "c") {
      std::string callee;
      uint64_t count = 0;
      f >> callee >> count;
      profile.AddCall(symbolizer.Symbolize(*elf, addr), callee, count);
    } else {
      std::fprintf(stderr, "pgo-oracle: line %zu: %s\n", lines + 1, line.c_str());
      return 1;
    }
    ++lines;
  }
  for (const auto& [place, entry] : places) profile.AddBody(entry.first, entry.second);
  std::cout << profile.ToText();
  std::fprintf(stderr, "pgo-oracle: %zu records, %zu places, %zu functions\n", lines, places.size(),
               profile.functions().size());
  return 0;
}
