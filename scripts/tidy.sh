#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make tidy`: clang-tidy (.clang-tidy's checks) on every C++ translation
# unit of the build's compile_commands.json except generated ones; fails on
# any finding.
#   usage: tidy.sh BUILD_DIR JOBS
set -euo pipefail
build=${1:?usage: tidy.sh BUILD_DIR JOBS}
jobs=${2:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
python3 - "$build/compile_commands.json" "$root" <<'PY' | xargs -r -P "$jobs" -n 1 clang-tidy-14 -p "$build" --quiet
import json, sys
for e in json.load(open(sys.argv[1])):
    f = e["file"]
    if f.startswith(sys.argv[2] + "/src/") or f.startswith(sys.argv[2] + "/tests/"):
        if f.endswith(".cc"):
            print(f)
PY
echo "clang-tidy: no findings"
