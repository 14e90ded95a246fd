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
set -euo pipefail

syspgo=$(realpath "${1:?usage: demo.sh path/to/syspgo}")
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (network namespaces, FUSE and overlayfs mounts, runc); run: sudo make demo" >&2
  exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
"$here/install-deps.sh" --bench
out=$(mktemp -d /tmp/syspgo-demo.XXXXXX)
echo "== syspgo demo: python3 -c 'import numpy', cold, over a 10 Gbit/s link (results in $out)"
WARM_RUNS=${WARM_RUNS:-3} "$here/../bench/coldstart.sh" "$syspgo" --profiles 10g \
  --workloads python-numpy --systems full,lazy,rtimage --runs 1 --out "$out"
echo
echo "The whole comparison (containerd, stargz, prefetch; redis, nginx, torch; 1g):"
echo "  bench/coldstart.sh build/bin/syspgo   (bench/README.md)"
