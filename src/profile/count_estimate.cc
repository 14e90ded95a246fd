// SPDX-License-Identifier: Apache-2.0
#include "profile/count_estimate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

namespace syspgo::profile {
namespace {

const FunctionSamples kNoCode;

const FunctionSamples& Child(const FunctionSamples& code, const LineKey& key,
                             const std::string& name) {
  auto at = code.inlined.find(key);
  if (at == code.inlined.end()) return kNoCode;
  auto f = at->second.find(name);
  return f == at->second.end() ? kNoCode : f->second;
}

// Samples per byte, summed over the places of `f` (the scale's divisor).
double Density(const FunctionSamples& f, const FunctionSamples& code) {
  double sum = 0;
  for (const auto& [key, n] : f.body) {
    auto bytes = code.body.find(key);
    sum += bytes != code.body.end() && bytes->second > 0
               ? static_cast<double>(n) / static_cast<double>(bytes->second)
               : static_cast<double>(n);
  }
  for (const auto& [key, callees] : f.inlined) {
    for (const auto& [name, g] : callees) sum += Density(g, Child(code, key, name));
  }
  return sum;
}

// A machine block of a function and the samples that fell in it.
struct Block {
  uint64_t address, size, samples;
};

// The first block of `bs` (sorted by address, disjoint) that ends after `a`.
template <typename Blocks>
auto FirstEndingAfter(Blocks& bs, uint64_t a) {
  auto it = std::upper_bound(bs.begin(), bs.end(), a,
                             [](uint64_t x, const Block& b) { return x < b.address; });
  if (it != bs.begin() && a < std::prev(it)->address + std::prev(it)->size) --it;
  return it;
}

// The block holding `a`, nullptr in a gap.
template <typename Blocks>
auto BlockAt(Blocks& bs, uint64_t a) -> decltype(&*bs.begin()) {
  auto it = FirstEndingAfter(bs, a);
  return it != bs.end() && it->address <= a ? &*it : nullptr;
}

// Counts per sample: the profile's total is this many times its samples.
// At one count per sample, the rare blocks that decide a loop's trip
// count or a branch's odds (a loop's entry, its exit) round to 1, 2 or 3,
// and the ratios clang derives from them are mostly rounding.
constexpr double kCountsPerSample = 1000;

// A count that says "ran": never rounded down to 0.
uint64_t Count(double v) { return std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(v))); }

FunctionSamples Estimate(const FunctionSamples& f, const FunctionSamples& code, double scale) {
  FunctionSamples out;
  out.head = f.head;
  for (const auto& [key, n] : f.body) {
    if (n == 0) continue;
    auto bytes = code.body.find(key);
    const double per_byte = bytes != code.body.end() && bytes->second > 0
                                ? static_cast<double>(n) / static_cast<double>(bytes->second)
                                : static_cast<double>(n);
    out.body[key] = Count(per_byte * scale);
  }
  for (const auto& [key, targets] : f.calls) {
    uint64_t sum = 0;
    for (const auto& [name, n] : targets) sum += n;
    if (sum == 0) continue;
    // The site ran as often as its own line (the caller's instructions
    // there); a site whose line got no sample of its own ran at least
    // once per target.
    auto line = out.body.find(key);
    const double site = line != out.body.end() ? static_cast<double>(line->second) : 0;
    for (const auto& [name, n] : targets) {
      out.calls[key][name] = Count(site * static_cast<double>(n) / static_cast<double>(sum));
    }
  }
  for (const auto& [key, callees] : f.inlined) {
    for (const auto& [name, g] : callees) {
      FunctionSamples e = Estimate(g, Child(code, key, name), scale);
      if (!e.body.empty() || !e.calls.empty() || !e.inlined.empty()) {
        out.total += e.total;
        out.inlined[key][name] = std::move(e);
      }
    }
  }
  // The total of the counts (as clang reads a total: the body's and the
  // inlined callees'), not of the samples.
  for (const auto& [key, n] : out.body) out.total += n;
  return out;
}

// Every place's count, keyed by its path from the outermost function.
void Flatten(const FunctionSamples& f, const std::string& path, std::map<std::string, double>* out,
             double* total) {
  for (const auto& [key, n] : f.body) {
    (*out)[path + ":" + std::to_string(key.first) + "." + std::to_string(key.second)] +=
        static_cast<double>(n);
    *total += static_cast<double>(n);
  }
  for (const auto& [key, callees] : f.inlined) {
    for (const auto& [name, g] : callees) {
      Flatten(
          g, path + "@" + std::to_string(key.first) + "." + std::to_string(key.second) + "/" + name,
          out, total);
    }
  }
}

}  // namespace

double Agreement(const LlvmProfile& a, const LlvmProfile& b) {
  std::map<std::string, double> pa, pb;
  double ta = 0, tb = 0;
  for (const auto& [name, f] : a.functions()) Flatten(f, name, &pa, &ta);
  for (const auto& [name, f] : b.functions()) Flatten(f, name, &pb, &tb);
  if (ta <= 0 || tb <= 0) return 0;
  double sum = 0;
  for (const auto& [key, n] : pa) {
    auto other = pb.find(key);
    if (other != pb.end()) sum += std::min(n / ta, other->second / tb);
  }
  return sum;
}

LlvmProfile EstimateCounts(const LlvmProfile& samples, const LlvmProfile& code,
                           const EstimateOptions& options) {
  LlvmProfile out;
  double density = 0;
  uint64_t kept = 0;
  auto keep = [&](const FunctionSamples& f) {
    return (f.total > 0 || !f.calls.empty()) && f.total >= options.min_samples;
  };
  for (const auto& [name, f] : samples.functions()) {
    if (!keep(f)) continue;
    auto c = code.functions().find(name);
    density += Density(f, c == code.functions().end() ? kNoCode : c->second);
    kept += f.total;
  }
  if (density <= 0) return out;
  // kCountsPerSample counts per kept sample in all.
  const double scale = kCountsPerSample * static_cast<double>(kept) / density;
  for (const auto& [name, f] : samples.functions()) {
    if (!keep(f)) continue;
    auto c = code.functions().find(name);
    FunctionSamples e = Estimate(f, c == code.functions().end() ? kNoCode : c->second, scale);
    if (!e.body.empty() || !e.calls.empty() || !e.inlined.empty()) {
      out.functions_[name] = std::move(e);
    }
  }
  out.size_ = samples.size();  // an upper bound: nothing is added
  return out;
}

void CountEstimator::AddCodeOf(const ElfFile& elf, uint64_t address) {
  const ElfSymbol* sym = elf.FunctionAt(address);
  if (!sym || !done_.insert({elf.build_id(), sym->address}).second) return;
  symbolizer_->ForEachLineRow(
      elf, sym->address, sym->address + sym->size,
      [&](uint64_t a, uint64_t bytes) { code_.AddBody(symbolizer_->Symbolize(elf, a), bytes); });
}

CountEstimator::Raw* CountEstimator::RawAt(const ElfFile& elf, uint64_t address) {
  AddCodeOf(elf, address);
  if (!elf_) elf_ = &elf;
  const ElfSymbol* sym = elf_ == &elf ? elf.FunctionAt(address) : nullptr;
  if (!sym) return nullptr;
  Raw& r = raw_[sym->address];
  r.size = sym->size;
  return &r;
}

void CountEstimator::AddSample(const ElfFile& elf, uint64_t address, uint64_t count) {
  samples_.AddBody(symbolizer_->Symbolize(elf, address), count);
  if (Raw* r = RawAt(elf, address)) {
    r->samples += count;
    r->at[address] += count;
  }
}

void CountEstimator::AddCall(const ElfFile& elf, uint64_t address, const std::string& callee,
                             uint64_t count) {
  samples_.AddCall(symbolizer_->Symbolize(elf, address), callee, count);
  if (Raw* r = RawAt(elf, address)) r->calls[{address, callee}] += count;
}

LlvmProfile CountEstimator::Counts(const EstimateOptions& options) const {
  if (elf_ && elf_->has_blocks()) return BlockCounts(options);
  return EstimateCounts(samples_, code_, options);
}

LlvmProfile CountEstimator::BlockCounts(const EstimateOptions& options) const {
  // The blocks of each kept function with their samples.
  std::map<uint64_t, std::vector<Block>> blocks;
  double density = 0;
  uint64_t kept = 0;
  for (const auto& [fn, r] : raw_) {
    if (r.samples < options.min_samples) continue;
    std::vector<Block> bs;
    for (const MachineBlock& b : elf_->BlocksIn(fn, fn + std::max<uint64_t>(r.size, 1))) {
      bs.push_back({b.address, b.size, 0});
    }
    if (bs.empty()) continue;
    for (const auto& [a, n] : r.at) {
      if (Block* b = BlockAt(bs, a)) b->samples += n;
    }
    for (const Block& b : bs) {
      if (b.samples > 0 && b.size > 0) {
        density += static_cast<double>(b.samples) / static_cast<double>(b.size);
        kept += b.samples;
      }
    }
    blocks.emplace(fn, std::move(bs));
  }
  LlvmProfile out;
  if (density <= 0) return out;
  const double scale = kCountsPerSample * static_cast<double>(kept) / density;
  auto count_of_block = [&](const Block& b) -> uint64_t {
    if (b.samples == 0 || b.size == 0) return 0;
    return Count(static_cast<double>(b.samples) / static_cast<double>(b.size) * scale);
  };
  auto count_of = [&](const std::vector<Block>& bs, uint64_t a) -> uint64_t {
    const Block* b = BlockAt(bs, a);
    return b ? count_of_block(*b) : 0;
  };
  // Entries of each kept function: its entry block's count (a function is
  // entered as often as its first block runs, loops aside).
  std::map<std::string, uint64_t> entries;
  for (const auto& [fn, bs] : blocks) {
    if (const uint64_t n = count_of(bs, fn)) {
      entries[symbolizer_->Symbolize(*elf_, fn).back().function] = n;
    }
  }
  // Samples in each callee over all its call sites, to share its entries.
  std::map<std::string, uint64_t> callee_samples;
  for (const auto& [fn, bs] : blocks) {
    for (const auto& [site, n] : raw_.at(fn).calls) callee_samples[site.second] += n;
  }
  for (const auto& entry : blocks) {
    // Not a structured binding: lambdas below use it (clang < 16).
    const uint64_t fn = entry.first;
    const std::vector<Block>& bs = entry.second;
    const Raw& r = raw_.at(fn);
    // Each place's count: the most any block holding its code ran.
    std::map<std::string, std::pair<const InlineChain*, uint64_t>> places;
    symbolizer_->ForEachLineRow(*elf_, fn, fn + r.size, [&](uint64_t a, uint64_t bytes) {
      uint64_t most = 0;
      for (auto b = FirstEndingAfter(bs, a); b != bs.end() && b->address < a + bytes; ++b) {
        most = std::max(most, count_of_block(*b));  // the blocks the row overlaps
      }
      if (most == 0) return;
      const InlineChain& chain = symbolizer_->Symbolize(*elf_, a);
      std::string key;
      for (const SourceFrame& f : chain) {
        key += f.function + '\0' + std::to_string(f.line) + ':' + std::to_string(f.discriminator) +
               ':' + std::to_string(f.start_line) + '\n';
      }
      auto& [c, n] = places[key];
      c = &chain;
      n = std::max(n, most);
    });
    for (const auto& [key, place] : places) out.AddBody(*place.first, place.second);
    // Head samples: clang takes them (plus one) as the weight of the entry
    // block's class and as the function's entry count; left at 0, every
    // function would be entered once.
    if (!places.empty()) {
      const std::string& name = symbolizer_->Symbolize(*elf_, fn).back().function;
      if (auto e = entries.find(name); e != entries.end()) out.AddHead(name, e->second);
    }
    // A call site's targets share the count of its block; a site whose
    // block got no sample of its own gets the callee's entries shared out
    // by its sites' samples.
    std::map<uint64_t, uint64_t> site_samples;
    for (const auto& [site, n] : r.calls) site_samples[site.first] += n;
    for (const auto& [site, n] : r.calls) {
      double calls = static_cast<double>(count_of(bs, site.first)) * static_cast<double>(n) /
                     static_cast<double>(site_samples[site.first]);
      if (calls == 0) {
        auto e = entries.find(site.second);
        if (e != entries.end()) {
          calls = static_cast<double>(e->second) * static_cast<double>(n) /
                  static_cast<double>(callee_samples[site.second]);
        }
      }
      out.AddCall(symbolizer_->Symbolize(*elf_, site.first), site.second, Count(calls));
    }
  }
  return out;
}

}  // namespace syspgo::profile
