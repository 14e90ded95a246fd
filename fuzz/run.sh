#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Longer, coverage-guided fuzzing of every parser with libFuzzer (clang):
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, all)
# Corpora grow in fuzz/corpus/<target>/ (not committed); a crash leaves
# crash-* files in the current directory and a non-zero exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${BUILD_FUZZ:-$src/build-fuzz}
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(manifest_fuzzer auth_fuzzer reference_fuzzer tar_fuzzer
                                     layer_fuzzer rtimage_metadata_fuzzer layer_index_fuzzer
                                     trace_fuzzer mountinfo_fuzzer content_range_fuzzer
                                     descriptors_fuzzer trust_fuzzer profile_index_fuzzer
                                     pprof_fuzzer llvm_profile_fuzzer bb_addr_map_fuzzer)
CC=clang CXX=clang++ cmake -S "$src" -B "$build" -G Ninja -DSYSPGO_FUZZ=ON -DSYSPGO_TESTS=OFF >/dev/null
ninja -C "$build" "${targets[@]}"
for t in "${targets[@]}"; do
  mkdir -p "$here/corpus/$t"
  echo "== $t for $seconds s"
  "$build/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=4096 "$here/corpus/$t"
done
