#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The fault-injection table of docs/runtime-image.md ("Faults"): runs the
# fault tests (tests/integration/fault_test.cc) and prints their rows as
# one markdown table. Needs root, FUSE, runc and docker-registry, as the
# integration tests do.
#   usage: scripts/fault-table.sh [BUILD_DIR]   (default build)
set -euo pipefail
build=${1:-build}
binary=$build/tests/lazy_trust_test
[ -x "$binary" ] || { echo "fault-table.sh: $binary is missing (make build)" >&2; exit 1; }
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
SYSPGO_FAULT_TABLE=$rows "$binary" --gtest_filter='FaultTest.*' --gtest_brief=1 >&2
echo "| fault | full | lazy | prefetch | rtimage | auto (default) | left after \`syspgo cleanup\` |"
echo "|---|---|---|---|---|---|---|"
cat "$rows"
