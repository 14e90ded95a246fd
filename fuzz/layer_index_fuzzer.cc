// SPDX-License-Identifier: Apache-2.0
// The checkpoint index (checksum recomputed, as in rtimage_metadata_fuzzer)
// and range extraction from arbitrary compressed bytes with whatever access
// points decode: errors are fine, crashes and over-reads are not.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/byte_codec.h"
#include "common/stream.h"
#include "rtimage/layer_index.h"

using namespace syspgo::rtimage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  if (input.size() >= 12) {
    std::string fixed = input;
    uint32_t crc = syspgo::Crc32(std::string_view(fixed).substr(0, fixed.size() - 4));
    for (int i = 0; i < 4; ++i) fixed[fixed.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
    auto layers = DecodeLayerIndexes(fixed);
    if (layers.ok()) {
      if (EncodeLayerIndexes(*layers).size() == 0) __builtin_trap();
      for (const LayerIndex& l : *layers) {
        // Ranges planned against the index, extracted from the input itself.
        for (uint64_t off : {uint64_t{0}, l.uncompressed_size / 2, l.uncompressed_size}) {
          auto plan = PlanRange(l, off, std::min<uint64_t>(4096, l.uncompressed_size - off));
          if (!plan.ok()) continue;
          if (plan->compressed_end > input.size() ||
              plan->compressed_end - plan->compressed_begin > (1 << 20))
            continue;
          (void)ExtractRange(
              l, *plan,
              std::string_view(input).substr(plan->compressed_begin,
                                             plan->compressed_end - plan->compressed_begin),
              off, std::min<uint64_t>(4096, l.uncompressed_size - off));
        }
      }
    }
  }
  // The input as a compressed layer, each way: index it to the end.
  for (StreamCompression c : {StreamCompression::kGzip, StreamCompression::kZstd}) {
    syspgo::StringReader source(input);
    auto reader = IndexingReader::Create(c, &source, 4096);
    if (!reader.ok()) continue;
    char buf[8192];
    uint64_t total = 0;
    for (;;) {
      auto n = (*reader)->Read(buf);
      if (!n.ok() || *n == 0) break;
      total += *n;
      if (total > (64 << 20)) break;  // a decompression bomb: stop
    }
  }
  return 0;
}
