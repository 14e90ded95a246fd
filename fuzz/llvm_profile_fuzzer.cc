// SPDX-License-Identifier: Apache-2.0
// LLVM sample profiles (text) as a pulled profile artifact carries them.
// What parses must write out as text that parses to the same text, and
// merge with itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "profile/llvm_profile.h"

using namespace syspgo::profile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto p = ParseLlvmText(input);
  if (!p.ok()) return 0;
  const std::string text = p->ToText();
  auto again = ParseLlvmText(text);
  if (!again.ok() || again->ToText() != text) __builtin_trap();
  if (!again->Merge(*p).ok()) __builtin_trap();
  return 0;
}

std::vector<std::string> BuiltInSeeds() {
  return {
      "main:220:0\n"
      " 3: 100\n"
      " 4.1: 50\n"
      " 6: 40 bar:40\n"
      " 5: foo:30\n"
      "  1: 30\n"
      "bar:40:40\n"
      " 1: 40\n"
      " !CFGChecksum: 1234\n",
      "a:1:0\n 1: b:1\n  1: c:1\n   1: d:1\n    1: 1\n",
  };
}
