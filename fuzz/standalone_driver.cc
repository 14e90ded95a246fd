// SPDX-License-Identifier: Apache-2.0
// Runs a fuzz target without libFuzzer, so the normal (gcc, ASan) build can
// give every target a short run in CI: each seed input given on the command
// line, then N deterministic mutations of the seeds (byte flips, inserts,
// truncations, splices). No coverage guidance: the long runs are libFuzzer's
// (fuzz/README.md).
//   usage: <target>_smoke ITERATIONS [SEED_FILE...]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Seeds a target can make itself (valid inputs); defined by each target's
// smoke file.
std::vector<std::string> BuiltInSeeds();

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ITERATIONS [SEED_FILE...]\n", argv[0]);
    return 2;
  }
  long iterations = std::strtol(argv[1], nullptr, 10);
  std::vector<std::string> seeds = BuiltInSeeds();
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    seeds.push_back(ss.str());
  }
  if (seeds.empty()) seeds.push_back("");
  auto run = [](const std::string& s) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  for (const std::string& s : seeds) run(s);
  std::mt19937_64 rng(12345);
  for (long i = 0; i < iterations; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 5) {
        case 0:
          if (!s.empty()) s[rng() % s.size()] ^= static_cast<char>(1 << (rng() % 8));
          break;
        case 1:
          if (!s.empty()) s[rng() % s.size()] = static_cast<char>(rng());
          break;
        case 2:
          s.insert(s.begin() + static_cast<long>(s.empty() ? 0 : rng() % s.size()),
                   static_cast<char>(rng()));
          break;
        case 3:
          if (!s.empty()) s.resize(rng() % s.size());
          break;
        case 4: {
          const std::string& other = seeds[rng() % seeds.size()];
          if (!other.empty()) s += other.substr(rng() % other.size());
          break;
        }
      }
    }
    run(s);
  }
  std::printf("%ld mutated inputs and %zu seeds: no crash\n", iterations, seeds.size());
  return 0;
}
