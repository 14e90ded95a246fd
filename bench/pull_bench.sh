#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pull benchmark: `syspgo pull` against `skopeo copy` to an OCI layout followed
# by `umoci unpack`, on the same realistic image from the same local
# docker-registry, cold each time (fresh store, page cache dropped).
#
#   usage: bench/pull_bench.sh path/to/syspgo [RUNS]
#   env:   WORKLOAD=python-numpy (or redis, nginx)  BENCH_CACHE=/var/cache/syspgo-bench
#          RESULTS=bench/results
# Prints a table of medians and writes every run to $RESULTS/pull-<date>.json.
set -euo pipefail

syspgo=$(realpath "${1:?usage: pull_bench.sh path/to/syspgo [RUNS]}")
runs=${2:-5}
workload=${WORKLOAD:-python-numpy}
cache=${BENCH_CACHE:-/var/cache/syspgo-bench}
results=${RESULTS:-$(dirname "$0")/results}
here=$(cd "$(dirname "$0")" && pwd)

for tool in skopeo umoci docker-registry; do
  command -v "$tool" >/dev/null || { echo "pull_bench: $tool is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "pull_bench: run as root" >&2; exit 1; }

echo "== root file system for $workload (debootstrap; cached in $cache)" >&2
"$here/images/build-rootfs.sh" "$workload" "$cache/$workload"
rootfs="$cache/$workload/rootfs"

. "$here/../scripts/registry.sh"
work=$(mktemp -d /tmp/syspgo-pullbench.XXXXXX)
cleanup() { stop_registry; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
start_registry "$work/registry"
port=$registry_port

# Three layers, as images usually have: the base system, the interpreter's
# standard library, and the application's packages (hard-linked copies).
. "$here/images/layers.sh"
split_layers "$rootfs" "$work/layers"
image="127.0.0.1:$port/bench/$workload:latest"
echo "== pushing $image" >&2
"$syspgo" build-image "${layer_args[@]}" --cmd '["sh"]' "$image" >/dev/null

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }

declare -a t_syspgo t_skopeo t_umoci t_peer
for i in $(seq 1 "$runs"); do
  rm -rf "$work/store" "$work/oci" "$work/bundle"
  drop_caches
  s=$(now); "$syspgo" pull --no-progress --root "$work/store" "$image" 2>/dev/null; e=$(now)
  t_syspgo+=("$(echo "$e - $s" | bc)")

  drop_caches
  s=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$image" "oci:$work/oci:latest"
  m=$(now)
  umoci unpack --image "$work/oci:latest" "$work/bundle" >/dev/null 2>&1
  e=$(now)
  t_skopeo+=("$(echo "$m - $s" | bc)"); t_umoci+=("$(echo "$e - $m" | bc)"); t_peer+=("$(echo "$e - $s" | bc)")
  echo "run $i: syspgo ${t_syspgo[-1]} s, skopeo+umoci ${t_peer[-1]} s" >&2
done
# Sanity: both produced the same file tree size.
du_syspgo=$(du -sb "$work"/store/layers | cut -f1); du_peer=$(du -sb "$work/bundle/rootfs" | cut -f1)
blob_bytes=$(du -sb "$work/registry/data/docker/registry/v2/blobs" | cut -f1)

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m_syspgo=$(median "${t_syspgo[@]}"); m_peer=$(median "${t_peer[@]}")
m_skopeo=$(median "${t_skopeo[@]}"); m_umoci=$(median "${t_umoci[@]}")
ratio=$(echo "scale=2; $m_peer / $m_syspgo" | bc)

mkdir -p "$results"
out="$results/pull-$(date -u +%Y%m%dT%H%M%SZ).json"
python3 - "$out" "$workload" "$runs" "$blob_bytes" "$du_syspgo" "$du_peer" \
  "${t_syspgo[*]}" "${t_skopeo[*]}" "${t_umoci[*]}" <<'PY'
import json, sys
out, workload, runs, blob, du_s, du_p, ts, tk, tu = sys.argv[1:]
f = lambda s: [float(x) for x in s.split()]
json.dump({"workload": workload, "runs": int(runs), "registry_bytes": int(blob),
           "unpacked_bytes": {"syspgo": int(du_s), "umoci": int(du_p)},
           "syspgo_pull_s": f(ts), "skopeo_copy_s": f(tk), "umoci_unpack_s": f(tu)},
          open(out, "w"), indent=2)
PY

echo
echo "pull of $workload ($((blob_bytes / 1000000)) MB in the registry), medians of $runs cold runs"
printf '%-28s %9s\n' tool seconds
printf '%-28s %9.3f\n' "syspgo pull" "$m_syspgo"
printf '%-28s %9.3f  (copy %.3f + unpack %.3f)\n' "skopeo copy + umoci unpack" "$m_peer" "$m_skopeo" "$m_umoci"
echo "speed-up: ${ratio}x   (runs in $out)"
