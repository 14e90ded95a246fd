// SPDX-License-Identifier: Apache-2.0
// A whole hostile layer: decompression (by sniffed magic) and unpacking into
// a scratch directory. Whatever the input, nothing may be written outside
// the scratch root; the fuzzer checks a canary directory beside it.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/file_util.h"
#include "oci/compression.h"
#include "oci/unpack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string base = [] {
    char templ[] = "/tmp/layer-fuzz-XXXXXX";
    std::string dir = ::mkdtemp(templ);
    ::mkdir((dir + "/canary").c_str(), 0755);
    return dir;
  }();
  const std::string root = base + "/root";
  ::mkdir(root.c_str(), 0755);
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  syspgo::StringReader source(bytes);
  auto compression = syspgo::oci::SniffCompression({bytes.data(), std::min<size_t>(4, size)});
  auto plain = syspgo::oci::NewDecompressingReader(compression, &source);
  if (plain.ok()) {
    syspgo::oci::UnpackStats stats;
    (void)syspgo::oci::UnpackTarStream(plain->get(), root, &stats);
  }
  auto canary = syspgo::ListDir(base + "/canary");
  auto top = syspgo::ListDir(base);
  if (!canary.ok() || !canary->empty() || !top.ok() || top->size() != 2) __builtin_trap();
  (void)syspgo::RemoveTree(root);
  return 0;
}
