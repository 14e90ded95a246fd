#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/images/build-rootfs.sh against tests/scripts/fake_debootstrap.sh:
# its progress reporting survives a log without step lines and a tree whose
# files vanish under du; a failed or interrupted debootstrap is reported,
# its process group stopped and its mounts removed; a tree a killed build
# left mounted does not stop the next one. The mount cases need root (the
# rest runs without).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
script=$here/../../bench/images/build-rootfs.sh
fake=$here/fake_debootstrap.sh
work=$(mktemp -d /tmp/build-rootfs-test.XXXXXX)
. "$here/../../bench/lib/progress.sh"
cleanup() { unmount_below "$work"; pkill -f "fake_debootstrap.sh.*$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
root=no
[ "$(id -u)" -eq 0 ] && root=yes
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# No pipe: `awk | grep -q` under pipefail fails when grep stops early.
mounted_below() { awk -v d="$1" 'index($5, d) == 1 {found = 1} END {exit !found}' /proc/self/mountinfo; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# progress_line under the strictest settings, on nothing at all.
(
  set -euo pipefail
  line=$(progress_line "$work/no-such.log" "$work/no-such-dir" 3 2>&1)
  [ "$line" = "   debootstrap: 3 s, 0 MB, starting" ] || { echo "got: $line" >&2; exit 1; }
) || fail "progress_line on a missing log and directory"

run() {  # run NAME MODE [extra env...]: runs the script, stderr in $work/NAME.err
  local name=$1 mode=$2
  shift 2
  env DEBOOTSTRAP="$fake" PROGRESS_INTERVAL=1 FAKE_MODE="$mode" FAKE_SECONDS=4 \
    FAKE_CHILD_PIDFILE="$work/$name.child" "$@" \
    bash "$script" redis "$work/$name" 2> "$work/$name.err"
}

# 1. A build that succeeds, with progress lines all the way.
rc=0
run ok ok || rc=$?
[ "$rc" -eq 0 ] || { fail "ok: exit $rc"; cat "$work/ok.err" >&2; }
[ -f "$work/ok/.complete" ] || fail "ok: no .complete"
lines=$(grep -c '^   debootstrap: [0-9]* s, [0-9]* MB, ' "$work/ok.err" || true)
[ "$lines" -ge 2 ] || { fail "ok: $lines progress lines (want 2 or more)"; cat "$work/ok.err" >&2; }
grep -q 'MB, starting$' "$work/ok.err" || fail "ok: no 'starting' before the first step line"
mounted_below "$work/ok" && fail "ok: something is still mounted"
# A second call is free.
run ok ok || fail "ok: the second call failed"

# 2. A debootstrap that fails: the reason, its log, nothing left running
# or mounted, no .complete.
rc=0
run failed fail || rc=$?
[ "$rc" -eq 1 ] || fail "fail: exit $rc (want 1)"
grep -q "debootstrap failed (exit 1)" "$work/failed.err" || fail "fail: no reason given"
grep -q "E: Couldn't download packages" "$work/failed.err" || fail "fail: the log's last lines are not shown"
[ -f "$work/failed/.complete" ] && fail "fail: .complete exists"
mounted_below "$work/failed.tmp" && fail "fail: proc is still mounted in the tree"
alive "$(cat "$work/failed.child" 2>/dev/null)" && fail "fail: debootstrap's child still runs"

# 3. Interrupted (SIGTERM, as a Ctrl-C or a timeout would): debootstrap's
# whole group stopped, its mounts gone.
env DEBOOTSTRAP="$fake" PROGRESS_INTERVAL=1 FAKE_MODE=hang FAKE_CHILD_PIDFILE="$work/hung.child" \
  bash "$script" redis "$work/hung" 2> "$work/hung.err" &
pid=$!
for _ in $(seq 100); do
  [ -s "$work/hung.child" ] && { [ "$root" = no ] || mounted_below "$work/hung.tmp"; } && break
  sleep 0.1
done
sleep 1.5  # at least one progress line
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 143 ] || fail "hang: exit $rc after SIGTERM (want 143)"
grep -q "no root file system for redis" "$work/hung.err" || fail "hang: no reason given"
mounted_below "$work/hung.tmp" && fail "hang: proc is still mounted in the tree"
child=$(cat "$work/hung.child" 2>/dev/null || true)
for _ in $(seq 20); do alive "$child" || break; sleep 0.1; done
alive "$child" && fail "hang: debootstrap's child still runs"

# 4. A tree left mounted by a build killed without its trap (SIGKILL, an
# older script): the next build unmounts it and starts over.
if [ "$root" = yes ]; then
  mkdir -p "$work/left.tmp/rootfs/proc" "$work/left.tmp/rootfs/sys"
  mount -t proc proc "$work/left.tmp/rootfs/proc"
  mount -t tmpfs tmpfs "$work/left.tmp/rootfs/sys"
  rc=0
  run left ok || rc=$?
  [ "$rc" -eq 0 ] || { fail "left: exit $rc"; cat "$work/left.err" >&2; }
  mounted_below "$work/left" && fail "left: something is still mounted"
else
  echo "skipped: the mount cases (not root)"
fi

if [ "$failures" -ne 0 ]; then
  echo "build_rootfs_test: $failures failure(s)" >&2
  exit 1
fi
echo "build_rootfs_test: passed"
