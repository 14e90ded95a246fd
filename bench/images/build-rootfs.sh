#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds a realistic Debian root file system for a benchmark workload with
# debootstrap from the host's configured Debian mirror.
#
# usage: build-rootfs.sh WORKLOAD OUTDIR
#   WORKLOAD: python-numpy | redis | nginx | torch
# The rootfs lands in OUTDIR/rootfs; OUTDIR/.complete marks a finished build,
# so a second call is free. A failed or interrupted build leaves no .complete.
set -euo pipefail

workload=${1:?usage: build-rootfs.sh WORKLOAD OUTDIR}
out=${2:?usage: build-rootfs.sh WORKLOAD OUTDIR}

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

# The mirror is the Debian archive apt already uses on this host (deb822 or
# one-line form); other repositories in sources.list.d are not Debian.
mirror=$( (grep -rhoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true) \
         | awk '{print $2}' | grep -E '/debian/?$' | head -n1)
mirror=${mirror:-http://deb.debian.org/debian}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

command -v debootstrap >/dev/null || { echo "build-rootfs.sh: debootstrap is not installed" >&2; exit 1; }

rm -rf "$out.tmp"
mkdir -p "$out.tmp"
echo "   debootstrap $suite ($packages) from $mirror: a few minutes; progress every 15 s" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$out.tmp/rootfs" "$mirror" \
  > "$out.tmp/debootstrap.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
start=$SECONDS
# A line every 15 s: time so far, size so far, and debootstrap's last step.
while kill -0 "$pid" 2>/dev/null; do
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 0.5; done
  kill -0 "$pid" 2>/dev/null || break
  step=$(grep -E '^I: ' "$out.tmp/debootstrap.log" 2>/dev/null | tail -n1 | cut -c4-70)
  size=$(du -sm "$out.tmp/rootfs" 2>/dev/null | cut -f1)
  printf '   debootstrap: %d s, %s MB, %s\n' $((SECONDS - start)) "${size:-0}" "${step:-starting}" >&2
done
if ! wait "$pid"; then
  echo "build-rootfs.sh: debootstrap failed; last lines of $out.tmp/debootstrap.log:" >&2
  tail -n 20 "$out.tmp/debootstrap.log" >&2
  exit 1
fi
trap - EXIT
# Package caches and lists are not part of a lean image.
rm -rf "$out.tmp/rootfs/var/cache/apt/archives/"*.deb "$out.tmp/rootfs/var/lib/apt/lists/"*
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
