// SPDX-License-Identifier: Apache-2.0
// The BB address map of a binary the profiler reads (a profiled process's
// executable is not ours). What parses is sorted blocks that do not wrap.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "profile/bb_addr_map.h"

using namespace syspgo::profile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto blocks = ParseBbAddrMap(std::span<const uint8_t>(data, size));
  if (!blocks.ok()) return 0;
  for (size_t i = 0; i < blocks->size(); ++i) {
    const MachineBlock& b = (*blocks)[i];
    if (b.address + b.size < b.address) __builtin_trap();
    if (i > 0 && (*blocks)[i - 1].address > b.address) __builtin_trap();
  }
  return 0;
}

std::vector<std::string> BuiltInSeeds() {
  // Version 2: a function at 0x1000 with blocks of 4 and 300 bytes; a
  // version 1 function at 0x4000.
  return {
      std::string("\x02\x00\x00\x10\x00\x00\x00\x00\x00\x00\x02\x00\x00\x04\x01\x01\x02\xac\x02\x00"
                  "\x01\x00\x00\x40\x00\x00\x00\x00\x00\x00\x01\x00\x02\x00",
                  34),
  };
}
