// SPDX-License-Identifier: Apache-2.0
// Trace files (syspgo trace -o FILE), as a damaged or hostile file could
// hold them: `image build --trace FILE` reads them. What decodes must
// re-encode to a trace that decodes to the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "trace/trace_format.h"

using syspgo::trace::DecodeTrace;
using syspgo::trace::EncodeTrace;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = DecodeTrace(std::string_view(reinterpret_cast<const char*>(data), size));
  if (t.ok()) {
    auto again = DecodeTrace(EncodeTrace(*t));
    if (!again.ok() || !(*again == *t)) __builtin_trap();
  }
  return 0;
}

// Seeds for the short runs without libFuzzer (standalone_driver.cc).
std::vector<std::string> BuiltInSeeds() {
  syspgo::trace::Trace t;
  t.target = "cmd: sh -c true";
  t.ready = "exit (pid 7)";
  t.duration_ns = 123456;
  syspgo::trace::TracedFile f;
  f.path = "/bin/busybox";
  f.first_access_ns = 10;
  f.ranges.push_back({syspgo::trace::AccessKind::kRead, 0, 3});
  f.ranges.push_back({syspgo::trace::AccessKind::kFault, 20, 5});
  t.files.push_back(f);
  f.path = "/etc/passwd";
  t.files.push_back(f);
  return {EncodeTrace(t), EncodeTrace(syspgo::trace::Trace{})};
}
