// SPDX-License-Identifier: Apache-2.0
#include "profile/llvm_profile.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include "common/file_util.h"

namespace syspgo::profile {
namespace {

// A name the text format can hold: the format separates fields by spaces.
// (Linkage names never hold one; a compiler that gives only a demangled
// template name does.)
bool Writable(const std::string& name) {
  return !name.empty() && name.find_first_of(" \t\n") == std::string::npos;
}

// LLVM's FunctionSamples::getOffset: 16 bits, wrapping below the start.
bool KeyOf(const SourceFrame& f, LineKey* key) {
  if (f.line == 0 || f.start_line == 0 || !Writable(f.function)) return false;
  *key = {(f.line - f.start_line) & 0xffff, LlvmBaseDiscriminator(f.discriminator)};
  return true;
}

std::string KeyText(const LineKey& k) {
  std::string s = std::to_string(k.first);
  if (k.second != 0) s += "." + std::to_string(k.second);
  return s;
}

// Totals as LLVM computes them: body samples (call sites raised to their
// targets) plus what was inlined.
uint64_t Total(const FunctionSamples& f) {
  uint64_t t = 0;
  std::map<LineKey, uint64_t> body = f.body;
  for (const auto& [key, targets] : f.calls) {
    uint64_t sum = 0;
    for (const auto& [name, n] : targets) sum += n;
    body[key] = std::max(body[key], sum);
  }
  for (const auto& [key, n] : body) t += n;
  for (const auto& [key, callees] : f.inlined) {
    for (const auto& [name, g] : callees) t += Total(g);
  }
  return t;
}

void WriteBody(const FunctionSamples& f, int depth, std::string* out) {
  const std::string indent(static_cast<size_t>(depth), ' ');
  std::map<LineKey, uint64_t> body = f.body;
  for (const auto& [key, targets] : f.calls) {
    uint64_t sum = 0;
    for (const auto& [name, n] : targets) sum += n;
    body[key] = std::max(body[key], sum);
  }
  for (const auto& [key, n] : body) {
    *out += indent + KeyText(key) + ": " + std::to_string(n);
    auto calls = f.calls.find(key);
    if (calls != f.calls.end()) {
      for (const auto& [name, c] : calls->second) *out += " " + name + ":" + std::to_string(c);
    }
    *out += "\n";
  }
  for (const auto& [key, callees] : f.inlined) {
    for (const auto& [name, g] : callees) {
      const uint64_t total = Total(g);
      if (total == 0) continue;
      *out += indent + KeyText(key) + ": " + name + ":" + std::to_string(total) + "\n";
      WriteBody(g, depth + 1, out);
    }
  }
}

bool ParseNumber(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

// "offset[.discriminator]"
bool ParseKey(std::string_view s, LineKey* key) {
  uint64_t line = 0, disc = 0;
  const size_t dot = s.find('.');
  if (!ParseNumber(s.substr(0, dot), &line)) return false;
  if (dot != std::string_view::npos && !ParseNumber(s.substr(dot + 1), &disc)) return false;
  if (line > UINT32_MAX || disc > UINT32_MAX) return false;
  *key = {static_cast<uint32_t>(line), static_cast<uint32_t>(disc)};
  return true;
}

// "name:count", the name may hold ':' (split at the last one).
bool ParseNamed(std::string_view s, std::string* name, uint64_t* n) {
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  *name = std::string(s.substr(0, colon));
  return ParseNumber(s.substr(colon + 1), n);
}

}  // namespace

namespace {

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  uint64_t out = 0;
  return __builtin_add_overflow(a, b, &out) ? UINT64_MAX : out;
}

// map[key], counting a new entry in `*grown` (and its name's bytes).
template <typename Map, typename Key>
typename Map::mapped_type& Entry(Map& map, const Key& key, LlvmSize* grown, size_t name_bytes) {
  auto [it, added] = map.try_emplace(key);
  if (added) {
    grown->records++;
    grown->name_bytes += name_bytes;
  }
  return it->second;
}

}  // namespace

void FunctionSamples::Merge(const FunctionSamples& other, LlvmSize* grown) {
  total = SaturatingAdd(total, other.total);
  head = SaturatingAdd(head, other.head);
  for (const auto& [k, n] : other.body) {
    uint64_t& v = Entry(body, k, grown, 0);
    v = SaturatingAdd(v, n);
  }
  for (const auto& [k, targets] : other.calls) {
    auto& mine = calls[k];
    for (const auto& [name, n] : targets) {
      uint64_t& v = Entry(mine, name, grown, name.size());
      v = SaturatingAdd(v, n);
    }
  }
  for (const auto& [k, callees] : other.inlined) {
    auto& mine = inlined[k];
    for (const auto& [name, g] : callees) Entry(mine, name, grown, name.size()).Merge(g, grown);
  }
}

FunctionSamples* LlvmProfile::Walk(const InlineChain& chain, uint64_t count, LineKey* at) {
  if (chain.empty()) return nullptr;
  std::vector<LineKey> keys(chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    if (!KeyOf(chain[i], &keys[i])) return nullptr;
  }
  const std::string& outer = chain.back().function;
  FunctionSamples* fs = &Entry(functions_, outer, &size_, outer.size());
  fs->total = SaturatingAdd(fs->total, count);
  for (size_t i = chain.size() - 1; i > 0; --i) {
    const std::string& callee = chain[i - 1].function;
    fs = &Entry(fs->inlined[keys[i]], callee, &size_, callee.size());
    fs->total = SaturatingAdd(fs->total, count);
  }
  *at = keys[0];
  return fs;
}

void LlvmProfile::AddBody(const InlineChain& chain, uint64_t count) {
  LineKey at;
  if (FunctionSamples* fs = Walk(chain, count, &at)) {
    uint64_t& v = Entry(fs->body, at, &size_, 0);
    v = SaturatingAdd(v, count);
  }
}

void LlvmProfile::AddCall(const InlineChain& call_site, const std::string& callee, uint64_t count) {
  if (!Writable(callee)) return;
  LineKey at;
  if (FunctionSamples* fs = Walk(call_site, 0, &at)) {
    uint64_t& v = Entry(fs->calls[at], callee, &size_, callee.size());
    v = SaturatingAdd(v, count);
  }
}

void LlvmProfile::AddHead(const std::string& function, uint64_t count) {
  if (!Writable(function)) return;
  FunctionSamples& f = Entry(functions_, function, &size_, function.size());
  f.head = SaturatingAdd(f.head, count);
}

Status LlvmProfile::Merge(const LlvmProfile& other) {
  for (const auto& [name, f] : other.functions_) {
    Entry(functions_, name, &size_, name.size()).Merge(f, &size_);
  }
  if (size_.records > kMaxLlvmRecords) {
    return ResourceExhausted("merged LLVM sample profile: more than " +
                             std::to_string(kMaxLlvmRecords) +
                             " records (docs/profile.md, Limits)");
  }
  if (size_.name_bytes > kMaxLlvmNameBytes) {
    return ResourceExhausted("merged LLVM sample profile: more than " +
                             std::to_string(kMaxLlvmNameBytes) +
                             " bytes of names (docs/profile.md, Limits)");
  }
  return Status::Ok();
}

uint64_t LlvmProfile::total() const {
  uint64_t t = 0;
  for (const auto& [name, f] : functions_) t += Total(f);
  return t;
}

std::string LlvmProfile::ToText() const {
  std::vector<std::pair<uint64_t, const std::string*>> order;
  for (const auto& [name, f] : functions_) {
    const uint64_t t = Total(f);
    if (t > 0) order.push_back({t, &name});
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  });
  std::string out;
  for (const auto& [total, name] : order) {
    const FunctionSamples& f = functions_.at(*name);
    out += *name + ":" + std::to_string(total) + ":" + std::to_string(f.head) + "\n";
    WriteBody(f, 1, &out);
  }
  return out;
}

Result<LlvmProfile> ParseLlvmText(std::string_view text) {
  LlvmProfile out;
  LlvmSize& size = out.size_;
  // The function each depth's lines belong to: stack[d - 1] for depth d.
  std::vector<FunctionSamples*> stack;
  int lineno = 0;
  auto bad = [&](std::string_view why) {
    return Corruption("LLVM sample profile, line " + std::to_string(lineno) + ": " +
                      std::string(why));
  };
  for (std::string_view line : SplitLines(text)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    size_t depth = 0;
    while (depth < line.size() && line[depth] == ' ') ++depth;
    std::string_view rest = line.substr(depth);
    if (rest.empty() || rest[0] == '!') continue;  // metadata (checksums, attributes)
    if (size.records >= kMaxLlvmRecords) {
      return ResourceExhausted("LLVM sample profile: more than " + std::to_string(kMaxLlvmRecords) +
                               " records (docs/profile.md, Limits)");
    }
    if (depth == 0) {
      const size_t head_colon = rest.rfind(':');
      if (head_colon == std::string_view::npos) return bad("a function needs name:total:head");
      uint64_t head = 0, total = 0;
      std::string name;
      if (!ParseNumber(rest.substr(head_colon + 1), &head) ||
          !ParseNamed(rest.substr(0, head_colon), &name, &total)) {
        return bad("a function needs name:total:head");
      }
      FunctionSamples& f = Entry(out.functions_, name, &size, name.size());
      f.head = SaturatingAdd(f.head, head);
      stack.assign(1, &f);
      continue;
    }
    if (depth > stack.size()) return bad("indented deeper than its function");
    stack.resize(depth);
    FunctionSamples* parent = stack.back();
    const size_t colon = rest.find(": ");
    LineKey key;
    if (colon == std::string_view::npos || !ParseKey(rest.substr(0, colon), &key)) {
      return bad("a record needs offset[.discriminator]: ...");
    }
    const std::vector<std::string_view> tokens = Split(rest.substr(colon + 2), ' ', false);
    if (tokens.empty()) return bad("a record without samples");
    uint64_t n = 0;
    if (ParseNumber(tokens[0], &n)) {
      uint64_t& v = Entry(parent->body, key, &size, 0);
      v = SaturatingAdd(v, n);
      for (size_t i = 1; i < tokens.size(); ++i) {
        std::string callee;
        uint64_t c = 0;
        if (!ParseNamed(tokens[i], &callee, &c)) return bad("a call target needs name:count");
        uint64_t& t = Entry(parent->calls[key], callee, &size, callee.size());
        t = SaturatingAdd(t, c);
      }
    } else {
      std::string callee;
      uint64_t total = 0;
      if (tokens.size() != 1 || !ParseNamed(tokens[0], &callee, &total)) {
        return bad("an inlined call site needs name:total");
      }
      if (stack.size() >= kMaxLlvmDepth) {
        return bad("inlined more than " + std::to_string(kMaxLlvmDepth) + " levels deep");
      }
      stack.push_back(&Entry(parent->inlined[key], callee, &size, callee.size()));
    }
  }
  if (size.name_bytes > kMaxLlvmNameBytes) {
    return ResourceExhausted("LLVM sample profile: more than " + std::to_string(kMaxLlvmNameBytes) +
                             " bytes of names (docs/profile.md, Limits)");
  }
  return out;
}

}  // namespace syspgo::profile
