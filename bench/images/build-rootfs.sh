#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds a realistic Debian root file system for a benchmark workload with
# debootstrap from the host's configured Debian mirror.
#
# usage: build-rootfs.sh WORKLOAD OUTDIR
#   WORKLOAD: python-numpy | redis | nginx | torch
# The rootfs lands in OUTDIR/rootfs; OUTDIR/.complete marks a finished build,
# so a second call is free. A failed or interrupted build leaves no
# .complete and nothing mounted (debootstrap mounts proc and sys inside the
# tree it builds): it says why it failed, keeps debootstrap's log in
# OUTDIR.tmp/debootstrap.log, and the next call starts over.
#
# DEBOOTSTRAP (default debootstrap) and PROGRESS_INTERVAL (seconds between
# progress lines, default 15) are for tests/scripts/build_rootfs_test.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/progress.sh"

workload=${1:?usage: build-rootfs.sh WORKLOAD OUTDIR}
out=${2:?usage: build-rootfs.sh WORKLOAD OUTDIR}
debootstrap=${DEBOOTSTRAP:-debootstrap}
interval=${PROGRESS_INTERVAL:-15}

case "$workload" in
  python-numpy) packages=python3,python3-numpy ;;
  redis) packages=redis-server ;;
  nginx) packages=nginx-light ;;
  torch) packages=python3,python3-torch ;;
  *) echo "build-rootfs.sh: unknown workload '$workload'" >&2; exit 2 ;;
esac

if [ -f "$out/.complete" ]; then
  exit 0
fi

# Any command that fails says so (set -e alone exits without a word).
trap 'rc=$?; echo "build-rootfs.sh: line $LINENO: \"$BASH_COMMAND\" failed (exit $rc)" >&2' ERR

# The mirror is the Debian archive apt already uses on this host (deb822 or
# one-line form); other repositories in sources.list.d are not Debian.
mirror=$( (grep -rhoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true) \
         | awk '{print $2}' | grep -E '/debian/?$' | head -n1) || mirror=""
mirror=${mirror:-http://deb.debian.org/debian}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

command -v "$debootstrap" >/dev/null ||
  { echo "build-rootfs.sh: $debootstrap is not installed (scripts/install-deps.sh --bench)" >&2; exit 1; }

# A build killed before (Ctrl-C, a reboot, an older version of this
# script) may have left proc or sys mounted in its tree: rm -rf would fail
# on them ("Directory not empty") or, worse, descend into them.
unmount_below "$out.tmp"
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
log=$out.tmp/debootstrap.log
pid=""
finish() {
  local rc=$?
  if [ -n "$pid" ]; then
    # debootstrap and what it started (dpkg in the chroot), also what
    # outlived it: its own process group, from setsid below.
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ]; then
    unmount_below "$out.tmp"
    echo "build-rootfs.sh: no root file system for $workload (exit $rc); debootstrap's log: $log" >&2
  fi
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "   debootstrap $suite ($packages) from $mirror: a few minutes; progress every $interval s" >&2
# In a process group of its own (setsid does not fork here: a background
# job of a script is no group leader), so that a failure or Ctrl-C stops
# dpkg too, not only the debootstrap shell.
setsid "$debootstrap" --variant=minbase --include="$packages" "$suite" "$out.tmp/rootfs" "$mirror" \
  > "$log" 2>&1 < /dev/null &
pid=$!
watch_progress "$pid" "$log" "$out.tmp/rootfs" "$interval"
rc=0
wait "$pid" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "build-rootfs.sh: debootstrap failed (exit $rc); last lines of $log:" >&2
  tail -n 20 "$log" >&2 || true
  exit 1
fi
# debootstrap unmounts what it mounted when it succeeds; make sure.
unmount_below "$out.tmp/rootfs"
# Package caches and lists are not part of a lean image.
rm -rf "$out.tmp/rootfs/var/cache/apt/archives/"*.deb "$out.tmp/rootfs/var/lib/apt/lists/"*
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
