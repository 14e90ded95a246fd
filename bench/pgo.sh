#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The profiler's closed loop: programs profiled by `syspgo profile record`
# under a load, rebuilt with the profile, and measured on an input the
# profile did not see, against the unprofiled build (and instrumented PGO).
#
#   1. sqlite (the amalgamation, from the npm package better-sqlite3) with
#      bench/pgo/sqlite_load.c, built by clang-19 -O2 -g
#      -fdebug-info-for-profiling -fno-omit-frame-pointer
#      -fbasic-block-address-map (docs/profile.md, "Compiler flags"):
#        base      no profile
#        sampled   -fprofile-sample-use with syspgo's .llvmprof of the
#                  program (recorded with -- CMD), and the flags
#                  docs/profile.md gives for it (profi, no trip counts
#                  from the profile for the vectorizer)
#        instr     instrumented PGO (-fprofile-instr-generate, llvm-profdata,
#                  -fprofile-instr-use) on the same training runs
#   2. the same sqlite as a shared library (libsqlite3.so), its profile
#      taken from a whole-system recording (--all) while the load ran, the
#      library rebuilt with it; the program is the same in both rows.
#   3. bench/pgo/goload (JSON, regexp, sort, sha256, flate through
#      interfaces) built by Go 1.23, and again with -pgo= syspgo's .pprof.
#
# Measures: instructions and I1 cache misses under valgrind callgrind
# (--cache-sim=yes) on the test input (no PMU on these machines: counts,
# not time, are the measure; wall time here varies +-15-20%), and wall
# time as the median of ROUNDS interleaved runs. Then the sampler's own
# cost on a busy machine (bench/profile_overhead.sh) unless OVERHEAD=0.
#
#   usage: bench/pgo.sh [path/to/syspgo]      (as root: BPF, perf events)
#          bench/pgo.sh --corpus [path/to/syspgo] [PROGRAM...]
#            the PGO corpus instead: six programs of different kinds, every
#            method, REC recordings each (bench/pgo/corpus.py; make bench-pgo)
#   env:   ROUNDS=5 FREQ=999 CACHE=/var/cache/syspgo-bench/pgo OVERHEAD=1
#   output: a table on stdout and in $CACHE/results.md
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = "--corpus" ]; then
  shift
  exec python3 "$here/pgo/corpus.py" "$(realpath "${1:-$here/../build/bin/syspgo}")" "${@:2}"
fi
syspgo=$(realpath "${1:-$here/../build/bin/syspgo}")
rounds=${ROUNDS:-5}
freq=${FREQ:-999}
cache=${CACHE:-/var/cache/syspgo-bench/pgo}
clang=/usr/lib/llvm-19/bin/clang
profdata=/usr/lib/llvm-19/bin/llvm-profdata
go=/usr/lib/go-1.23/bin/go
sqlite_npm=better-sqlite3@12.11.1
train_rows=200000 train_seeds="1 2 3 4 5 6"
test_rows=30000 test_seed=99 wall_rows=200000
go_train=100000 go_test=20000 go_wall=200000

[ "$(id -u)" -eq 0 ] || { echo "pgo.sh: run as root (BPF, perf events)" >&2; exit 1; }
for tool in "$clang" "$profdata" "$go" valgrind npm python3; do
  command -v "$tool" >/dev/null || { echo "pgo.sh: $tool is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
# Instrumented PGO links clang's profile runtime (libclang-rt-19-dev):
# found out by linking, before any build.
probe=$(mktemp -d)
echo 'int main(void) { return 0; }' > "$probe/p.c"
if ! "$clang" -fprofile-instr-generate "$probe/p.c" -o "$probe/p" 2> "$probe/err"; then
  echo "pgo.sh: clang-19 cannot link an instrumented program (libclang_rt.profile is missing: scripts/install-deps.sh --bench installs libclang-rt-19-dev): $(head -c 300 "$probe/err")" >&2
  rm -rf "$probe"
  exit 1
fi
rm -rf "$probe"
mkdir -p "$cache"
chmod 0700 "$cache"
work="$cache/run"
rm -rf "$work"
mkdir -p "$work"
log() { echo "pgo.sh: $*" >&2; }

# --- sqlite's source, once -------------------------------------------------
src="$cache/sqlite"
if [ ! -f "$src/sqlite3.c" ]; then
  log "fetching sqlite's amalgamation ($sqlite_npm from the npm registry)"
  rm -rf "$cache/npm" && mkdir -p "$cache/npm" "$src"
  (cd "$cache/npm" && npm pack --silent "$sqlite_npm" >/dev/null && tar xzf ./*.tgz)
  cp "$cache/npm/package/deps/sqlite3/sqlite3.c" "$cache/npm/package/deps/sqlite3/sqlite3.h" "$src/"
fi
sqlite_version=$(sed -n 's/^#define SQLITE_VERSION *"\(.*\)"/\1/p' "$src/sqlite3.h")
cflags=(-O2 -g -fdebug-info-for-profiling -fno-omit-frame-pointer -fbasic-block-address-map
        -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -I "$src")
# With a syspgo sample profile (docs/profile.md, "Compiler flags").
sample_flags=(-fsample-profile-use-profi -mllvm -loop-vectorize-with-block-frequency=false)

# build_static NAME [FLAGS...]: $work/NAME, sqlite linked in; clang's
# warnings in $work/NAME.warnings.
build_static() {
  local name=$1; shift
  log "building $name (clang-19 $*)"
  "$clang" "${cflags[@]}" "$@" -c "$src/sqlite3.c" -o "$work/$name.o" 2> "$work/$name.warnings"
  "$clang" "${cflags[@]}" "$@" "$here/pgo/sqlite_load.c" "$work/$name.o" -o "$work/$name" -lm \
    2>> "$work/$name.warnings"
}
# build_shared DIR [FLAGS...]: $work/DIR/libsqlite3.so.
build_shared() {
  local dir=$1; shift
  log "building $dir/libsqlite3.so (clang-19 $*)"
  mkdir -p "$work/$dir"
  "$clang" "${cflags[@]}" "$@" -fPIC -shared "$src/sqlite3.c" -o "$work/$dir/libsqlite3.so" \
    2> "$work/$dir.warnings"
}
# profile_of DIR FILE: the .llvmprof or .pprof (by EXT) of FILE in a profile
# directory, found by FILE's path in profiles.json.
profile_of() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, os, sys
d, path, ext = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
for b in json.load(open(os.path.join(d, "profiles.json")))["binaries"]:
    if os.path.realpath(b["path"]) == path:
        for f in b["files"]:
            if f.endswith(ext):
                print(os.path.join(d, f)); sys.exit(0)
sys.exit("pgo.sh: no %s profile of %s in %s" % (ext, path, d))
PY
}
train() {  # train PROGRAM...: the training runs
  for s in $train_seeds; do "$@" "$train_rows" "$s" >/dev/null; done
}

# --- 1. sqlite linked in -----------------------------------------------------
build_static base
log "recording the training runs (syspgo profile record --freq $freq -- ...)"
"$syspgo" profile record --freq "$freq" -o "$work/prof-static" -- \
  sh -c "for s in $train_seeds; do '$work/base' $train_rows \$s >/dev/null; done"
static_prof=$(profile_of "$work/prof-static" "$work/base" .llvmprof)
build_static sampled "-fprofile-sample-use=$static_prof" "${sample_flags[@]}"
build_static instr-gen -fprofile-instr-generate
log "instrumented training runs"
LLVM_PROFILE_FILE="$work/instr-%p.profraw" train "$work/instr-gen"
"$profdata" merge -o "$work/instr.profdata" "$work"/instr-*.profraw
build_static instr "-fprofile-instr-use=$work/instr.profdata"

# --- 2. sqlite as a shared library, from a whole-system recording ----------
build_shared so-base
"$clang" "${cflags[@]}" "$here/pgo/sqlite_load.c" -L "$work/so-base" -lsqlite3 -o "$work/load-so"
log "recording the whole system (--all) while the shared-library load runs"
rm -f "$work/stop"
( while [ ! -e "$work/stop" ]; do
    for s in $train_seeds; do LD_LIBRARY_PATH="$work/so-base" "$work/load-so" "$train_rows" "$s" >/dev/null; done
  done ) &
loop=$!
sleep 0.5
"$syspgo" profile record --all --freq "$freq" --duration 10 -o "$work/prof-all"
touch "$work/stop"
wait "$loop"
shared_prof=$(profile_of "$work/prof-all" "$work/so-base/libsqlite3.so" .llvmprof)
build_shared so-sampled "-fprofile-sample-use=$shared_prof" "${sample_flags[@]}"

# --- 3. Go -----------------------------------------------------------------
export GOCACHE="$cache/gocache" GOPATH="$cache/gopath" GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod
log "building goload (Go 1.23)"
(cd "$here/pgo/goload" && "$go" build -o "$work/go-base" .)
"$syspgo" profile record --freq "$freq" -o "$work/prof-go" -- \
  sh -c "for s in 1 2 3 4; do '$work/go-base' $go_train \$s >/dev/null; done"
go_prof=$(profile_of "$work/prof-go" "$work/go-base" .pprof)
(cd "$here/pgo/goload" && "$go" build -a -pgo="$go_prof" -gcflags=-d=pgodebug=3 -o "$work/go-pgo" . \
  > "$work/go-pgo.log" 2>&1)

# --- measure ----------------------------------------------------------------
# Valgrind 3.19 cannot read clang-19's DWARF 5: counted on copies without
# debug information (the same instructions).
for f in base sampled instr load-so go-base go-pgo; do strip -g -o "$work/$f.nodebug" "$work/$f"; done
for d in so-base so-sampled; do
  mkdir -p "$work/$d.nodebug" && strip -g -o "$work/$d.nodebug/libsqlite3.so" "$work/$d/libsqlite3.so"
done
# count NAME LIBDIR CMD...: "instructions I1-misses" of one run.
count() {
  local name=$1 libdir=$2; shift 2
  LD_LIBRARY_PATH="$libdir" GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 GOGC=off \
    valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$work/cg.$name" "$@" \
    > /dev/null 2> "$work/cg.$name.log"
  python3 - "$work/cg.$name" <<'PY'
import sys
ev = tot = None
for line in open(sys.argv[1]):
    if line.startswith("events:"): ev = line.split()[1:]
    if line.startswith("summary:") or line.startswith("totals:"): tot = [int(x) for x in line.split()[1:]]
d = dict(zip(ev, tot))
print(d["Ir"], d.get("I1mr", 0))
PY
}
log "counting instructions (callgrind) on the test input: $test_rows rows, seed $test_seed"
declare -A ir i1 wall
for name in base sampled instr; do
  read -r ir[$name] i1[$name] < <(count "$name" "" "$work/$name.nodebug" "$test_rows" "$test_seed")
done
for d in so-base so-sampled; do
  read -r ir[$d] i1[$d] < <(count "$d" "$work/$d.nodebug" "$work/load-so.nodebug" "$test_rows" "$test_seed")
done
for name in go-base go-pgo; do
  read -r ir[$name] i1[$name] < <(count "$name" "" "$work/$name.nodebug" "$go_test" "$test_seed")
done

log "wall time: $rounds interleaved rounds"
declare -A times
for ((r = 0; r < rounds; r++)); do
  for name in base sampled instr so-base so-sampled go-base go-pgo; do
    case $name in
      so-*) cmd=("$work/load-so" "$wall_rows" "$test_seed"); lib="$work/$name" ;;
      go-*) cmd=("$work/$name" "$go_wall" "$test_seed"); lib="" ;;
      *) cmd=("$work/$name" "$wall_rows" "$test_seed"); lib="" ;;
    esac
    t0=$(date +%s%N)
    LD_LIBRARY_PATH="$lib" "${cmd[@]}" > /dev/null
    t1=$(date +%s%N)
    times[$name]+="$(( (t1 - t0) / 1000 )) "
  done
done
for name in "${!times[@]}"; do
  wall[$name]=$(python3 -c "import statistics,sys; print('%.3f' % (statistics.median(map(int, sys.argv[1:])) / 1e6))" ${times[$name]})
done

# --- report -----------------------------------------------------------------
pct() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('%+.2f%%' % ((b - a) / a * 100))" "$1" "$2"; }
{
  echo "## bench/pgo.sh ($(date -u +%Y-%m-%d), sqlite $sqlite_version, $(nproc) CPUs, $freq Hz)"
  echo
  echo "Test input: sqlite_load $test_rows rows seed $test_seed (training: $train_rows rows, seeds $train_seeds);"
  echo "goload $go_test seed $test_seed (training: $go_train, seeds 1-4). Wall: $wall_rows rows / $go_wall records, median of $rounds interleaved rounds."
  echo
  echo "| program | build | instructions | vs base | I1 misses | vs base | wall (s) | vs base |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  row() {  # row PROGRAM NAME BASE LABEL
    echo "| $1 | $4 | ${ir[$2]} | $(pct "${ir[$3]}" "${ir[$2]}") | ${i1[$2]} | $(pct "${i1[$3]}" "${i1[$2]}") | ${wall[$2]} | $(pct "${wall[$3]}" "${wall[$2]}") |"
  }
  row "sqlite (static)" base base "clang-19 -O2"
  row "sqlite (static)" sampled base "+ syspgo sample profile"
  row "sqlite (static)" instr base "+ instrumented PGO"
  row "libsqlite3.so" so-base so-base "clang-19 -O2"
  row "libsqlite3.so" so-sampled so-base "+ profile from --all"
  row "goload (Go 1.23)" go-base go-base "go build"
  row "goload (Go 1.23)" go-pgo go-base "+ -pgo syspgo pprof"
  echo
  echo "clang warnings with the sample profiles: $(cat "$work/sampled.warnings" "$work/so-sampled.warnings" | wc -l)"
  # (awk, not head: head would leave sort to die of SIGPIPE under pipefail.)
  echo "Go PGO's hottest call edges (-d=pgodebug=3, percent of the profile's edge weight):"
  echo '```'
  grep -E '^"[^"]+" -> "[^"]+" \[label=' "$work/go-pgo.log" | \
    awk -F'label="' '{split($2, a, "\""); print a[1] "\t" $0}' | sort -g -r | awk 'NR <= 5' | cut -f2
  echo '```'
} | tee "$cache/results.md"

if [ "${OVERHEAD:-1}" != 0 ]; then
  log "the sampler's cost on a busy machine (bench/profile_overhead.sh, 99 Hz)"
  FREQ=99 WORK=${WORK:-6} "$here/profile_overhead.sh" "$syspgo" "${OH_RUNS:-11}" | tee -a "$cache/results.md"
fi
