#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Tracer overhead: cold starts of the same image, traced (`syspgo trace
# IMAGE`) and untraced (`syspgo run`), alternating, page cache dropped before
# each. Both report Ready (from `runc start` to readiness) measured by the
# same code; the ratio of medians is the tracer's cost.
#   usage: bench/trace_overhead.sh path/to/syspgo [RUNS]
#   env:   WORKLOAD=python-numpy  CMD="python3 -c 'import numpy'"  BENCH_CACHE  RESULTS
set -euo pipefail

syspgo=$(realpath "${1:?usage: trace_overhead.sh path/to/syspgo [RUNS]}")
runs=${2:-7}
workload=${WORKLOAD:-python-numpy}
cmd=${CMD:-"python3 -c 'import numpy'"}
cache=${BENCH_CACHE:-/var/cache/syspgo-bench}
results=${RESULTS:-$(dirname "$0")/results}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "trace_overhead: run as root" >&2; exit 1; }

"$here/images/build-rootfs.sh" "$workload" "$cache/$workload"
. "$here/../scripts/registry.sh"
work=$(mktemp -d /tmp/syspgo-traceoh.XXXXXX)
cleanup() { stop_registry; "$syspgo" cleanup --root "$work/store" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
start_registry "$work/registry"
image="127.0.0.1:$registry_port/bench/$workload:latest"
"$syspgo" build-image --level 1 --layer "$cache/$workload/rootfs" --cmd '["sh"]' "$image" >/dev/null
"$syspgo" pull --no-progress --root "$work/store" "$image" 2>/dev/null

field() { sed -n "s/.*\"$2\": \([0-9.e-]*\).*/\1/p" "$1"; }
declare -a plain traced kept
for i in $(seq 1 "$runs"); do
  sync; echo 3 > /proc/sys/vm/drop_caches
  "$syspgo" run --root "$work/store" --pull missing --timing-json "$work/run.json" "$image" \
    -- sh -c "$cmd" > "$work/run.log" 2>&1 || { cat "$work/run.log" >&2; exit 1; }
  plain+=("$(field "$work/run.json" ready_s)")
  "$syspgo" trace --root "$work/store" --pull missing --timing-json "$work/trace.json" \
    -o "$work/t.trace" "$image" -- sh -c "$cmd" > "$work/trace.log" 2>&1 || { cat "$work/trace.log" >&2; exit 1; }
  traced+=("$(field "$work/trace.json" ready_s)")
  sync; echo 3 > /proc/sys/vm/drop_caches
  "$syspgo" trace --keep-readahead --root "$work/store" --pull missing --timing-json "$work/kept.json" \
    -o "$work/k.trace" "$image" -- sh -c "$cmd" > "$work/trace.log" 2>&1 || { cat "$work/trace.log" >&2; exit 1; }
  kept+=("$(field "$work/kept.json" ready_s)")
  echo "run $i: untraced ${plain[-1]} s, traced ${traced[-1]} s, traced keeping readahead ${kept[-1]} s" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mp=$(median "${plain[@]}"); mt=$(median "${traced[@]}"); mk=$(median "${kept[@]}")
mkdir -p "$results"
out="$results/trace-overhead-$(date -u +%Y%m%dT%H%M%SZ).json"
printf '{"workload": "%s", "cmd": "%s", "untraced_ready_s": [%s], "traced_ready_s": [%s], "traced_keep_readahead_ready_s": [%s]}\n' \
  "$workload" "${cmd//\"/\\\"}" "$(IFS=,; echo "${plain[*]}")" "$(IFS=,; echo "${traced[*]}")" \
  "$(IFS=,; echo "${kept[*]}")" > "$out"
echo "== traced, readahead off (default):"; "$syspgo" trace show "$work/t.trace" | sed -n 3,5p
echo "== traced, readahead kept:"; "$syspgo" trace show "$work/k.trace" | sed -n 3,5p
echo
echo "cold start of $workload ($cmd), Ready phase, medians of $runs:"
echo "untraced                          $mp s"
echo "traced, readahead kept            $mk s   ratio $(echo "scale=3; $mk / $mp" | bc)  (the tracer's own cost)"
echo "traced, readahead off (default)   $mt s   ratio $(echo "scale=3; $mt / $mp" | bc)  (exact mmap record)"
echo "(runs in $out)"
