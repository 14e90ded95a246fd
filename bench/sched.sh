#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Online work beside batch work on the same CPUs, with and without the
# scheduling agent (`syspgo sched agent`, examples/sched/online-batch.policy).
#
# Online: redis-server (Debian's), tagged "online", under a fixed-rate GET
# load from bench/sched/redis_load.c (latency from each request's due time
# to its reply, so a client kept off the CPU is charged for it; the client
# runs on the same CPUs and is tagged online too: it is the online side).
# Batch: one CPU-bound job per CPU (bench/sched/batch.c), tagged "batch",
# each reporting the work it finished.
#
# Cases, at 1 client (2000 req/s) and 16 clients (8000 req/s together):
#   alone    redis and its load only
#   batch    + the batch jobs
#   agent    + the batch jobs + the agent
#   static   + the batch jobs under SCHED_IDLE from the start (chrt -i 0)
# Batch throughput (work units/s), the online service idle or light:
#   batch-only   batch jobs, redis idle, no agent (the reference)
#   agent-idle   + the agent, redis idle
#   agent-light  + the agent, redis at 1 client x 200 req/s
# Observation cost: redis-benchmark -t get (16 clients) requests/s without
# and with the observer attached (`syspgo sched top` running).
#
# Every case starts from the same state (no batch job, no agent, redis
# warm), waits WARMUP seconds, then measures SECONDS; cases run in a
# shuffled order in every round; the table has medians of ROUNDS rounds.
#
#   usage: bench/sched.sh [path/to/syspgo]     (as root: BPF, SCHED_IDLE)
#   env:   ROUNDS=5 SECONDS_PER_CASE=5 WARMUP=1 OUT=/var/cache/syspgo-bench/sched
#          CASES="alone agent ..." (a subset, for a quick look)
#   output: a table on stdout and in $OUT/results.md (raw rows: results.tsv;
#           the last agent log of each case: agent-CASE-CLIENTS.log)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
syspgo=$(realpath "${1:-$here/../build/bin/syspgo}")
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_CASE:-5}
warmup=${WARMUP:-1}
out=${OUT:-/var/cache/syspgo-bench/sched}
port=${PORT:-6391}

[ "$(id -u)" -eq 0 ] || { echo "sched.sh: run as root (BPF, SCHED_IDLE)" >&2; exit 1; }
for tool in redis-server redis-benchmark cc python3 shuf chrt; do
  command -v "$tool" >/dev/null || { echo "sched.sh: $tool is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
mkdir -p "$out"
chmod 0700 "$out"
work=$(mktemp -d /tmp/syspgo-sched-bench.XXXXXX)
state=$work/state
pin=/sys/fs/bpf/syspgo-bench-$$
ncpu=$(nproc)
common=(--state-dir "$state" --pin-root "$pin")

redis_pid=
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  pkill -f "$work/batch" 2>/dev/null || true
  rm -rf "$work" "$pin"
}
trap cleanup EXIT

cc -O2 -pthread -o "$work/redis_load" "$here/sched/redis_load.c"
cc -O2 -o "$work/batch" "$here/sched/batch.c"

redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$syspgo" sched tag set --pid "$redis_pid" online "${common[@]}"

# Batch jobs tag themselves before they exec.
batch_pids=()
start_batch() {  # MODE(normal|idle) SECONDS
  local i
  rm -f "$work"/batch.*
  for i in $(seq "$ncpu"); do
    if [ "$1" = idle ]; then
      chrt -i 0 "$work/batch" "$2" >"$work/batch.$i" &
    else
      sh -c '"$0" sched tag set --pid $$ batch "$@" && exec "'"$work/batch"'" '"$2" \
        "$syspgo" "${common[@]}" >"$work/batch.$i" &
    fi
    batch_pids+=($!)
  done
}
batch_rate() {  # SECONDS -> units/s of all jobs (after wait_batch)
  cat "$work"/batch.* | awk -v s="$1" '{t += $1} END {printf "%.1f", t / s}'
}
wait_batch() { wait "${batch_pids[@]}"; batch_pids=(); }

agent_pid=
start_agent() {  # returns once the agent runs; notes its CPU time then
  : >"$work/agent.log"
  "$syspgo" sched agent --policy "$here/../examples/sched/online-batch.policy" "${common[@]}" \
    2>"$work/agent.log" &
  agent_pid=$!
  for _ in $(seq 100); do
    if grep -q "agent running" "$work/agent.log"; then
      agent_cpu0=$(awk '{print $1}' "/proc/$agent_pid/schedstat")  # on-CPU ns
      agent_t0=$(awk '{print $1}' /proc/uptime)
      return
    fi
    sleep 0.05
  done
  echo "sched.sh: the agent did not start:" >&2; cat "$work/agent.log" >&2; exit 1
}
# Sets agent_cpu: the agent's CPU use while it ran (after its start), in %
# of one CPU, and agent_start_ms: the CPU its start took (BPF load, tags).
stop_agent() {
  local cpu_ns now_s
  cpu_ns=$(awk '{print $1}' "/proc/$agent_pid/schedstat")
  now_s=$(awk '{print $1}' /proc/uptime)
  kill -TERM "$agent_pid"
  wait "$agent_pid" || { echo "sched.sh: the agent failed:" >&2; cat "$work/agent.log" >&2; exit 1; }
  cp "$work/agent.log" "$out/agent-$agent_case.log"
  agent_cpu=$(awk -v c="$cpu_ns" -v c0="$agent_cpu0" -v t0="$agent_t0" -v now="$now_s" \
    'BEGIN {printf "%.3f", 100 * ((c - c0) / 1e9) / (now - t0)}')
  agent_start_ms=$(awk -v c0="$agent_cpu0" 'BEGIN {printf "%.0f", c0 / 1e6}')
}

load() {  # CLIENTS RATE SECONDS -> JSON line; the client tags itself online
  sh -c '"$0" sched tag set --pid $$ online "$@" && exec "'"$work/redis_load"'" 127.0.0.1 '"$port $1 $2 $3 $warmup" \
    "$syspgo" "${common[@]}"
}

rows=$out/results.tsv
: >"$rows"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$rows"; }  # round case clients json

run_case() {  # ROUND CASE CLIENTS
  local r=$1 c=$2 n=$3 rate json batch=""
  agent_cpu="" agent_start_ms="" agent_case="$c-$n"
  rate=$([ "$n" = 1 ] && echo 2000 || echo 8000)
  local dur=$(awk -v w="$warmup" -v s="$secs" 'BEGIN {print w + s + 0.3}')
  case $c in
    alone) json=$(load "$n" "$rate" "$secs") ;;
    batch|static)
      start_batch "$([ "$c" = static ] && echo idle || echo normal)" "$dur"
      json=$(load "$n" "$rate" "$secs"); wait_batch; batch=$(batch_rate "$dur") ;;
    agent)
      start_agent; start_batch normal "$dur"
      json=$(load "$n" "$rate" "$secs"); wait_batch; batch=$(batch_rate "$dur"); stop_agent ;;
    batch-only) start_batch normal "$dur"; sleep "$dur"; json='{}'; wait_batch; batch=$(batch_rate "$dur") ;;
    agent-idle) start_agent; start_batch normal "$dur"; sleep "$dur"; json='{}'; wait_batch; batch=$(batch_rate "$dur"); stop_agent ;;
    agent-light)
      start_agent; start_batch normal "$dur"
      json=$(load 1 200 "$secs"); wait_batch; batch=$(batch_rate "$dur"); stop_agent ;;
    bench-plain|bench-observed)
      local top=
      if [ "$c" = bench-observed ]; then
        "$syspgo" sched top --interval 1s "${common[@]}" >/dev/null 2>"$work/top.log" &
        top=$!
        sleep 1
      fi
      local rps
      rps=$(redis-benchmark -p "$port" -t get -n 200000 -c 16 -q --csv | awk -F, 'NR == 2 {gsub(/"/, "", $2); print $2}')
      [ -n "$top" ] && { kill -INT "$top"; wait "$top" || true; }
      json="{\"rps\": $rps}" ;;
  esac
  json=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["batch"]=sys.argv[2]; d["agent_cpu"]=sys.argv[3]; d["agent_start_ms"]=sys.argv[4]; print(json.dumps(d))' \
    "$json" "$batch" "$agent_cpu" "$agent_start_ms")
  record "$r" "$c" "$n" "$json"
  echo "round $r  $c  clients=$n  $json" >&2
  sleep 0.5
}

cases=()
for n in 1 16; do for c in alone batch agent static; do cases+=("$c $n"); done; done
cases+=("batch-only 0" "agent-idle 0" "agent-light 1" "bench-plain 16" "bench-observed 16")
if [ -n "${CASES:-}" ]; then  # e.g. CASES="alone agent" (a quick look; the table wants them all)
  keep=()
  for c in "${cases[@]}"; do [[ " $CASES " == *" ${c% *} "* ]] && keep+=("$c"); done
  cases=("${keep[@]}")
fi
for r in $(seq "$rounds"); do
  printf '%s\n' "${cases[@]}" | shuf >"$work/order"
  while read -r c n; do run_case "$r" "$c" "$n"; done <"$work/order"
done

python3 - "$rows" "$out/results.md" "$rounds" "$secs" <<'PY'
import json, statistics, sys
rows, dest, rounds, secs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
data = {}
for line in open(rows):
    r, case, n, js = line.rstrip("\n").split("\t")
    data.setdefault((case, n), []).append(json.loads(js))
def med(case, n, key):
    vals = [float(d[key]) for d in data.get((case, n), []) if d.get(key) not in (None, "")]
    return statistics.median(vals) if vals else float("nan")
out = [f"Medians of {rounds} rounds, {secs} s each (bench/sched.sh).", "",
       "| clients | case | p50 us | p99 us | p99.9 us | p99 vs alone | batch units/s | agent CPU % |",
       "|---|---|---|---|---|---|---|---|"]
for n in ("1", "16"):
    alone = med("alone", n, "p99_us")
    for case in ("alone", "batch", "agent", "static"):
        p99 = med(case, n, "p99_us")
        b = med(case, n, "batch")
        a = med(case, n, "agent_cpu")
        out.append(f"| {n} | {case} | {med(case, n, 'p50_us'):.0f} | {p99:.0f} | {med(case, n, 'p999_us'):.0f} | "
                   f"{p99 / alone:.2f}x | {'' if b != b else f'{b:.0f}'} | {'' if a != a else f'{a:.2f}'} |")
ref = med("batch-only", "0", "batch")
out += ["", "| batch case | batch units/s | vs batch-only | online p99 us | agent CPU % |", "|---|---|---|---|---|"]
for case, n in (("batch-only", "0"), ("agent-idle", "0"), ("agent-light", "1")):
    b = med(case, n, "batch")
    p = med(case, n, "p99_us")
    a = med(case, n, "agent_cpu")
    out.append(f"| {case} | {b:.0f} | {100 * b / ref:.1f}% | {'' if p != p else f'{p:.0f}'} | {'' if a != a else f'{a:.2f}'} |")
starts = [float(d["agent_start_ms"]) for k, v in data.items() for d in v if d.get("agent_start_ms")]
if starts:
    out += ["", f"The agent's start (BPF load, tag sync) took {statistics.median(starts):.0f} ms of CPU (median); "
            "agent CPU % above is while it ran."]
plain, observed = med("bench-plain", "16", "rps"), med("bench-observed", "16", "rps")
out += ["", f"redis-benchmark -t get -c 16: {plain:.0f} req/s without the observer, {observed:.0f} with it "
        f"({100 * (observed - plain) / plain:+.2f}%)."]
text = "\n".join(out) + "\n"
open(dest, "w").write(text)
print(text)
PY
