// SPDX-License-Identifier: Apache-2.0
#include "profile/bb_addr_map.h"

#include <algorithm>
#include <string>

namespace syspgo::profile {
namespace {

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  bool done() const { return at_ == b_.size(); }
  bool U8(uint8_t* v) {
    if (at_ >= b_.size()) return false;
    *v = b_[at_++];
    return true;
  }
  bool U64(uint64_t* v) {
    if (b_.size() - at_ < 8) return false;
    *v = 0;
    for (int i = 7; i >= 0; --i) *v = (*v << 8) | b_[at_ + static_cast<size_t>(i)];
    at_ += 8;
    return true;
  }
  bool Uleb(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t byte = 0;
      if (!U8(&byte)) return false;
      *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  }
  size_t at() const { return at_; }

 private:
  std::span<const uint8_t> b_;
  size_t at_ = 0;
};

// LLVM's BBAddrMap::Features bits.
constexpr uint8_t kFuncEntryCount = 1, kBbFreq = 2, kBrProb = 4, kMultiBbRange = 8;

}  // namespace

Result<std::vector<MachineBlock>> ParseBbAddrMap(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  std::vector<MachineBlock> out;
  auto bad = [&](const std::string& why) {
    return Corruption("BB address map at byte " + std::to_string(r.at()) + ": " + why);
  };
  while (!r.done()) {
    uint8_t version = 0, features = 0;
    if (!r.U8(&version) || !r.U8(&features)) return bad("truncated header");
    if (version < 1 || version > 2) return bad("version " + std::to_string(version));
    if (features & ~(kFuncEntryCount | kBbFreq | kBrProb | kMultiBbRange)) {
      return bad("unknown features " + std::to_string(features));
    }
    uint64_t ranges = 1;
    if ((features & kMultiBbRange) && !r.Uleb(&ranges)) return bad("truncated range count");
    if (ranges > kMaxMachineBlocks) return bad("too many ranges");
    uint64_t blocks_in_function = 0;
    for (uint64_t i = 0; i < ranges; ++i) {
      uint64_t base = 0, n = 0;
      if (!r.U64(&base) || !r.Uleb(&n)) return bad("truncated range");
      if (n > kMaxMachineBlocks || out.size() + n > kMaxMachineBlocks) {
        return ResourceExhausted("BB address map: more than " + std::to_string(kMaxMachineBlocks) +
                                 " blocks");
      }
      uint64_t end = 0;  // of the previous block, from the range's base
      for (uint64_t j = 0; j < n; ++j) {
        uint64_t id = 0, offset = 0, size = 0, metadata = 0;
        if ((version >= 2 && !r.Uleb(&id)) || !r.Uleb(&offset) || !r.Uleb(&size) ||
            !r.Uleb(&metadata)) {
          return bad("truncated block");
        }
        const uint64_t start = end + offset;
        if (start < end || start + size < start || base + start + size < base) {
          return bad("block out of range");
        }
        out.push_back({base + start, size});
        end = start + size;
      }
      blocks_in_function += n;
    }
    // PGO analyses (-pgo-analysis-map): skipped.
    if (features & kFuncEntryCount) {
      uint64_t v = 0;
      if (!r.Uleb(&v)) return bad("truncated entry count");
    }
    if (features & (kBbFreq | kBrProb)) {
      for (uint64_t j = 0; j < blocks_in_function; ++j) {
        uint64_t v = 0;
        if ((features & kBbFreq) && !r.Uleb(&v)) return bad("truncated frequency");
        if (features & kBrProb) {
          uint64_t succ = 0;
          if (!r.Uleb(&succ) || succ > kMaxMachineBlocks) return bad("truncated successors");
          for (uint64_t k = 0; k < succ; ++k) {
            if (!r.Uleb(&v) || !r.Uleb(&v)) return bad("truncated successor");
          }
        }
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const MachineBlock& a, const MachineBlock& b) { return a.address < b.address; });
  return out;
}

}  // namespace syspgo::profile
