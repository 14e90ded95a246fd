#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make release`: the programs a node runs, optimized, with their debug
# information split into NAME.debug files beside them (found by gdb through
# the .gnu_debuglink section and the build-id), so the installed binaries
# are small and a crash can still be symbolized.
#   usage: release.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: release.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYSPGO_TESTS=OFF > /dev/null
fi
targets=(syspgo syspgo-snapshotter)
# The Go helper for pulls into containerd, when Go is there (SYSPGO_GO_TOOLS).
grep -q "^build containerd_pull:" "$build/build.ninja" && targets+=(containerd_pull)
ninja -C "$build" "${targets[@]}"
for name in syspgo syspgo-snapshotter; do
  bin=$build/bin/$name
  # Split once per link: a binary that already carries a debuglink is done.
  if readelf -S "$bin" | grep -q gnu_debuglink; then continue; fi
  objcopy --only-keep-debug --compress-debug-sections=zlib "$bin" "$bin.debug"
  chmod 0644 "$bin.debug"
  objcopy --strip-debug --strip-unneeded "$bin"
  objcopy --add-gnu-debuglink="$bin.debug" "$bin"
done
ls -l "$build"/bin/syspgo "$build"/bin/syspgo-snapshotter "$build"/bin/*.debug |
  awk '{printf "  %-48s %6.1f MB\n", $9, $5 / 1048576}'
