#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sampler overhead on a busy machine: one CPU-bound worker per CPU doing a
# fixed amount of work, timed with and without `syspgo profile record --all`
# at FREQ Hz, alternating, medians of RUNS. Reported: the workers' wall
# time and CPU time (user + system, where the sampler's interrupts and BPF
# program are charged), and the recorder's own CPU time.
#   usage: bench/profile_overhead.sh path/to/syspgo [RUNS]
#   env:   FREQ=99  WORK=2.0 (seconds of work per worker, roughly)
set -euo pipefail

syspgo=$(realpath "${1:?usage: profile_overhead.sh path/to/syspgo [RUNS]}")
runs=${2:-9}
freq=${FREQ:-99}
work_s=${WORK:-2.0}
[ "$(id -u)" -eq 0 ] || { echo "profile_overhead: run as root (BPF, perf events)" >&2; exit 1; }
work=$(mktemp -d /tmp/syspgo-profoh.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/spin.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) unsigned long leaf(unsigned long x) {
  for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ul + 1442695040888963407ul;
  return x;
}
int main(int argc, char** argv) {
  long iters = (long)(atof(argv[1]) * 400000);
  unsigned long x = 1;
  for (long i = 0; i < iters; ++i) x ^= leaf(x);
  printf("%lu\n", x & 1);
  return 0;
}
C
cc -O1 -fno-omit-frame-pointer -o "$work/spin" "$work/spin.c"
cpus=$(nproc)

# One round: every CPU busy; prints "wall cpu" of the workers (seconds).
round() {
  local start end cpu=0 pids=()
  start=$(date +%s.%N)
  for c in $(seq 1 "$cpus"); do
    /usr/bin/time -f "%U %S" -o "$work/t$c" "$work/spin" "$work_s" > /dev/null &
    pids+=($!)
  done
  wait "${pids[@]}"
  end=$(date +%s.%N)
  for c in $(seq 1 "$cpus"); do cpu=$(echo "$cpu + $(awk '{print $1 + $2}' "$work/t$c")" | bc -l); done
  echo "$(echo "$end - $start" | bc -l) $cpu"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
: > "$work/plain"; : > "$work/sampled"; : > "$work/recorder"
for i in $(seq 1 "$runs"); do
  round >> "$work/plain"
  "$syspgo" profile record --all --freq "$freq" --duration 3600 -o "$work/prof" > /dev/null 2>&1 &
  rec=$!
  sleep 0.5  # loaded and sampling
  round >> "$work/sampled"
  # The recorder's CPU time while sampling (utime + stime, clock ticks).
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$rec/stat" >> "$work/recorder"
  kill -TERM "$rec"; wait "$rec" || true
done
pw=$(cut -d' ' -f1 "$work/plain" | median); pc=$(cut -d' ' -f2 "$work/plain" | median)
sw=$(cut -d' ' -f1 "$work/sampled" | median); sc=$(cut -d' ' -f2 "$work/sampled" | median)
rc=$(median < "$work/recorder")
printf 'profile_overhead: %d CPUs busy, %d Hz, %d runs (medians)\n' "$cpus" "$freq" "$runs"
printf '  workers wall  %.3f s -> %.3f s  (%+.2f%%)\n' "$pw" "$sw" "$(echo "($sw / $pw - 1) * 100" | bc -l)"
printf '  workers CPU   %.3f s -> %.3f s  (%+.2f%%)\n' "$pc" "$sc" "$(echo "($sc / $pc - 1) * 100" | bc -l)"
printf '  recorder CPU  %.3f s while sampling (loading, reading maps every 100 ms)\n' "$rc"
