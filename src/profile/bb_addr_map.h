// SPDX-License-Identifier: Apache-2.0
// File: profile/bb_addr_map.h
//
// The machine basic blocks of a binary built with clang's
// -fbasic-block-address-map: the SHT_LLVM_BB_ADDR_MAP section (LLVM's
// "BB address map", versions 1 and 2) lists, per function, where each block
// starts and how long it is. A block runs as a whole, so its samples
// divided by its size estimate how often it ran far better than a source
// line's do (profile/count_estimate.h). Binaries are input the profiler
// did not make: the decoder is bounded and fails on anything unexpected.
#ifndef SYSPGO_PROFILE_BB_ADDR_MAP_H_
#define SYSPGO_PROFILE_BB_ADDR_MAP_H_

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace syspgo::profile {

inline constexpr uint32_t kShtLlvmBbAddrMap = 0x6fff4c0a;
inline constexpr size_t kMaxMachineBlocks = size_t{1} << 24;

struct MachineBlock {
  uint64_t address = 0;  // link-time
  uint64_t size = 0;     // bytes
};

// The blocks of every function in the section's bytes, sorted by address.
// Corruption when the bytes are not a version 1 or 2 map.
Result<std::vector<MachineBlock>> ParseBbAddrMap(std::span<const uint8_t> bytes);

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_BB_ADDR_MAP_H_
