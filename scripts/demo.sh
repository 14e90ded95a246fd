#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: the cold-start benchmark in short, on the python+numpy image.
# Builds the image if missing (debootstrap from the configured Debian
# mirror, cached in /var/cache/syspgo-bench), starts docker-registry behind
# a 10 Gbit/s link with a 0.5 ms round trip (its own network namespace),
# optimizes the image (a traced cold start, runtime image built and pushed),
# then cold-starts it as `full`, `lazy` and `rtimage` and prints the table
# and where the chart is. Everything it starts is stopped and removed at the
# end, also on Ctrl-C. The whole benchmark: bench/coldstart.sh.
#
#   demo.sh --estimate BUILD_DIR   what the demo will cost here, said first
#   demo.sh path/to/syspgo         the demo
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${BENCH_CACHE:-/var/cache/syspgo-bench}

if [ "${1:-}" = "--estimate" ]; then
  build=${2:?usage: demo.sh --estimate BUILD_DIR}
  minutes=0 network="" disk=""
  echo "== syspgo demo: what it needs here (measured on 2 cores, idle)"
  if [ -x "$build/bin/syspgo" ] && [ -x "$build/bin/syspgo-delay-relay" ]; then
    echo "   build:     syspgo is built in $build/ (only what changed is rebuilt)"
  else
    echo "   build:     syspgo and the link relay only (no tests): about 5 min on 2 cores"
    minutes=$((minutes + 5)) disk+="750 MB in $build/, "
  fi
  missing=$(for p in debootstrap bc iproute2 curl time valgrind redis-server redis-tools \
                     golang-github-containerd-stargz-snapshotter-dev; do
              [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || echo "$p"
            done | tr '\n' ' ')
  if [ -n "$missing" ]; then
    echo "   packages:  $missing(apt, about 60 MB)"
    network+="about 60 MB of packages, "
    minutes=$((minutes + 1))
  fi
  if [ -f "$cache/python-numpy/.complete" ]; then
    echo "   image:     the python+numpy root file system is cached in $cache/python-numpy"
  else
    echo "   image:     debootstrap of python3 + numpy: about 6 min, about 60 MB from the Debian"
    echo "              mirror, 228 MB kept in $cache/python-numpy for the next run"
    minutes=$((minutes + 6)) network+="about 60 MB from the Debian mirror, " disk+="228 MB in $cache, "
  fi
  echo "   benchmark: registry, image build and push, a traced start, 3 warm and 3 cold starts: about 1 min"
  minutes=$((minutes + 1))
  disk+="about 600 MB in /tmp while it runs (removed at the end)"
  echo "   in all:    about $minutes min; disk: $disk; network: ${network:-none}"
  echo "   (Ctrl-C stops it and removes what it started)"
  exit 0
fi

syspgo=$(realpath "${1:?usage: demo.sh path/to/syspgo}")
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (network namespaces, FUSE and overlayfs mounts, runc); run: sudo make demo" >&2
  exit 1
fi
"$here/install-deps.sh" --bench
out=$(mktemp -d /tmp/syspgo-demo.XXXXXX)
echo "== syspgo demo: python3 -c 'import numpy', cold, over a 10 Gbit/s link (results in $out)"
WARM_RUNS=${WARM_RUNS:-3} "$here/../bench/coldstart.sh" "$syspgo" --profiles 10g \
  --workloads python-numpy --systems full,lazy,rtimage --runs 1 --out "$out"
echo
echo "The whole comparison (containerd, stargz, prefetch; redis, nginx, torch; 1g):"
echo "  bench/coldstart.sh build/bin/syspgo   (bench/README.md)"
