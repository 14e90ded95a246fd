#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cold-start benchmark: every syspgo mode and real peers side by side, each
# start cold, over a registry behind a shaped link, against the physical
# limit. See bench/README.md ("Cold start").
#
#   bench/coldstart.sh path/to/syspgo [--profiles 10g,1g,10g@5,1g@5] [--runs N]
#       [--workloads python-numpy,redis,nginx,torch]
#       [--systems full,containerd,stargz,stargz-optimized,containerd+syspgo,lazy,prefetch,rtimage]
#       [--out DIR]
#       [--baseline path/to/other/syspgo]
#       [--scale | --scale-only]
#
# --baseline adds systems lazy@base and rtimage@base (put them in
# --systems): another syspgo build, on its own copy of each image
# (bench/<w>-base) with a runtime image it built itself, timed in the same
# run, interleaved with this one (before/after comparisons).
#
# --scale also runs bench/lib/scale.py over the first profile, on the same
# registry and images: N containers of one image at once on one node
# (SCALE_CONTAINERS, default 1,4,16), one container of each workload at
# once, and K nodes starting one image at once (SCALE_NODES, default 1,8);
# SCALE_ROUNDS rounds each (default 3); table-scale-<profile>.md. --scale-only skips the
# single cold starts.
#
# A profile is a link rate (10g, 1g), optionally with its round trip in ms
# after @ (10g@5); without it LINK_RTT_MS (default 0.5).
#
# Defaults: profile 10g, 3 runs, python-numpy,redis,nginx, every system.
# BASELINE_OPTIMIZE_ARGS adds options to the baseline's `image optimize`
# (with --baseline set to this same build: "--chunk-compression 0" compares
# uncompressed chunks with compressed ones in one run).
# LINK_ACCESS=tls-token puts the registry behind HTTPS and token auth, as
# public registries are (bench/lib/link.sh): every system gets the same CA
# (containerd's hosts directory) and login. WARM_RUNS (default 3) sets the
# warm starts per workload. Output in DIR
# (default bench/results/coldstart-<date>): runs.jsonl (every start),
# results.json (medians), table-<profile>.md, chart-<profile>.svg.
set -euo pipefail

syspgo=$(realpath "${1:?usage: coldstart.sh path/to/syspgo [options]}")
shift
profiles=10g runs=3 workloads=python-numpy,redis,nginx baseline="" scale="" cold=yes
systems=full,containerd,stargz,stargz-optimized,containerd+syspgo,lazy,prefetch,rtimage
here=$(cd "$(dirname "$0")" && pwd)
out=$here/results/coldstart-$(date +%Y%m%d-%H%M%S)
while [ $# -gt 0 ]; do
  case "$1" in
    --profiles) profiles=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --systems) systems=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --baseline) baseline=$(realpath "$2"); shift 2 ;;
    --scale) scale=yes; shift ;;
    --scale-only) scale=yes cold=""; shift ;;
    *) echo "coldstart.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "coldstart.sh: run as root (namespaces, mounts, runc)" >&2; exit 1; }
relay=$(dirname "$syspgo")/syspgo-delay-relay
[ -x "$relay" ] || { echo "coldstart.sh: $relay is missing (make build)" >&2; exit 1; }
cache=${BENCH_CACHE:-/var/cache/syspgo-bench}
mkdir -p "$out"
out=$(realpath "$out")

. "$here/../scripts/registry.sh"
. "$here/images/layers.sh"
. "$here/lib/link.sh"

work=$(mktemp -d /tmp/syspgo-coldstart.XXXXXX)
convert_pid=""
cleanup() {
  [ -n "$convert_pid" ] && { kill "$convert_pid" 2>/dev/null || true; wait "$convert_pid" 2>/dev/null || true; }
  link_down
  "$syspgo" cleanup --root "$work/trace" >/dev/null 2>&1 || true
  "$syspgo" cleanup --root "$work/trace-base" >/dev/null 2>&1 || true
  grep " $work" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The workloads: packages, command (the image's Cmd) and readiness.
workload_cmd() {
  case "$1" in
    python-numpy) echo '["python3","-c","import numpy"]' ;;
    torch) echo '["python3","-c","import torch"]' ;;
    redis) echo '["redis-server","--port","6379","--save","","--appendonly","no"]' ;;
    nginx) echo '["nginx","-g","daemon off;"]' ;;
  esac
}
workload_ready() {
  case "$1" in
    redis) echo tcp:6379 ;;
    nginx) echo tcp:80 ;;
    *) echo exit ;;
  esac
}

stargz_bin=""
stargz_note=""
if [[ ",$systems," == *",stargz,"* || ",$systems," == *",stargz-optimized,"* ]]; then
  if stargz_bin=$("$here/stargz/build.sh"); then :; else
    stargz_note="the stargz snapshotter could not be built here (bench/stargz/build.sh failed)"
    stargz_bin=""
  fi
fi

# eStargz copies of an image through a containerd of our own: plain
# (`ctr-remote image convert --estargz`, tag :esgz) and optimized
# (`ctr-remote image optimize`, tag :esgz-opt): the workload runs with the
# image's own command, the files it reads first are put first and
# prefetched in one range. For a server, the run ends when its port answers
# (the readiness `syspgo image optimize` traces to), by SIGINT under
# --wait-on-signal; a command that exits ends it itself.
convert_estargz() {
  local image=$1 esgz=$2 esgz_opt=$3 ready=$4 c=$work/convert
  mkdir -p "$c"
  printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\n[grpc]\n  address = "%s/sock"\n' \
    "$c" "$c" "$c" > "$c/config.toml"
  containerd --config "$c/config.toml" > "$c/log" 2>&1 &
  convert_pid=$!
  for _ in $(seq 1 200); do [ -S "$c/sock" ] && break; sleep 0.05; done
  ctr -a "$c/sock" -n bench image pull "${reg_ctr[@]}" "$image" > /dev/null
  "$stargz_bin/ctr-remote" -a "$c/sock" -n bench image convert --oci --estargz "$image" "$esgz" > /dev/null
  ctr -a "$c/sock" -n bench image push "${reg_ctr[@]}" "$esgz" > /dev/null
  if [ "$ready" = exit ]; then
    "$stargz_bin/ctr-remote" -a "$c/sock" -n bench image optimize --oci --net-host --period 120 \
      "$image" "$esgz_opt" > "$c/optimize.log" 2>&1 || { cat "$c/optimize.log" >&2; exit 1; }
  else
    "$stargz_bin/ctr-remote" -a "$c/sock" -n bench image optimize --oci --net-host --wait-on-signal \
      "$image" "$esgz_opt" > "$c/optimize.log" 2>&1 &
    local opt=$! port=${ready#tcp:}
    for _ in $(seq 1 1200); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.05
    done
    kill -INT "$opt"
    wait "$opt" || { cat "$c/optimize.log" >&2; exit 1; }
  fi
  ctr -a "$c/sock" -n bench image push "${reg_ctr[@]}" "$esgz_opt" > /dev/null
  kill "$convert_pid"; wait "$convert_pid" 2>/dev/null || true
  convert_pid=""
  grep " $c" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$c"
}

prepared=""  # the registry's data persists across profiles: prepare once
IFS=, read -r -a profile_list <<< "$profiles"
IFS=, read -r -a workload_list <<< "$workloads"
for profile in "${profile_list[@]}"; do
  rtt=${LINK_RTT_MS:-0.5}
  [[ "$profile" == *@* ]] && rtt=${profile#*@}
  echo "== link ${profile%@*}, RTT $rtt ms"
  LINK_RTT_MS=$rtt link_up "${profile%@*}" "$work/registry" "$relay"
  # How every tool here reaches the registry (LINK_ACCESS, bench/lib/link.sh).
  if [ "$link_access" = tls-token ]; then
    reg_syspgo=(--certs-dir "$link_certs_dir" --authfile "$link_authfile")
    reg_ctr=(--hosts-dir "$link_certs_dir" --user "$link_user:$link_password")
    reg_skopeo=(--src-cert-dir "$link_certs_dir/$link_registry" --src-creds "$link_user:$link_password"
                --dest-cert-dir "$link_certs_dir/$link_registry" --dest-creds "$link_user:$link_password")
    access_json=$(printf '{"kind": "tls-token", "certs_dir": "%s", "authfile": "%s", "user": "%s", "password": "%s"}' \
                  "$link_certs_dir" "$link_authfile" "$link_user" "$link_password")
  else
    reg_syspgo=(--insecure-registry "$link_registry")
    reg_ctr=(--plain-http)
    reg_skopeo=(--src-tls-verify=false --dest-tls-verify=false)
    access_json='{"kind": "plain"}'
  fi
  wl_json=""
  for w in "${workload_list[@]}"; do
    image=$link_registry/bench/$w:latest
    base_image=""
    [ -n "$baseline" ] && base_image=$link_registry/bench/$w-base:latest
    esgz="" esgz_opt=""
    [ -n "$stargz_bin" ] && esgz=$link_registry/bench/$w:esgz esgz_opt=$link_registry/bench/$w:esgz-opt
    if [ -z "$prepared" ]; then
      echo "-- $w: root file system (debootstrap, cached in $cache/$w), image, runtime image"
      "$here/images/build-rootfs.sh" "$w" "$cache/$w"
      rm -rf "$work/layers"
      split_layers "$cache/$w/rootfs" "$work/layers"
      "$syspgo" build-image "${reg_syspgo[@]}" "${layer_args[@]}" \
        --cmd "$(workload_cmd "$w")" "$image" > /dev/null
      rm -rf "$work/layers"
      "$syspgo" image optimize --root "$work/trace" "${reg_syspgo[@]}" \
        --ready "$(workload_ready "$w")" "$image" > "$work/optimize-$w.log" 2>&1 ||
        { cat "$work/optimize-$w.log" >&2; exit 1; }
      "$syspgo" cleanup --root "$work/trace" > /dev/null 2>&1 || true
      rm -rf "$work/trace"
      if [ -n "$base_image" ]; then
        # The same image in a repository of its own, optimized by the baseline.
        skopeo copy --quiet "${reg_skopeo[@]}" \
          "docker://$image" "docker://$base_image"
        # shellcheck disable=SC2086  # BASELINE_OPTIMIZE_ARGS: words, e.g. "--chunk-compression 0"
        "$baseline" image optimize --root "$work/trace-base" "${reg_syspgo[@]}" \
          ${BASELINE_OPTIMIZE_ARGS:-} --ready "$(workload_ready "$w")" "$base_image" \
          > "$work/optimize-base-$w.log" 2>&1 ||
          { cat "$work/optimize-base-$w.log" >&2; exit 1; }
        "$baseline" cleanup --root "$work/trace-base" > /dev/null 2>&1 || true
        rm -rf "$work/trace-base"
      fi
      [ -n "$esgz" ] && convert_estargz "$image" "$esgz" "$esgz_opt" "$(workload_ready "$w")"
    fi
    "$syspgo" image inspect --json "${reg_syspgo[@]}" "$image" \
      | sed -n '/^{/,$p' > "$work/inspect-$w.json"
    wl_json+=$(python3 - "$w" "$image" "$esgz" "$(workload_ready "$w")" "$work/inspect-$w.json" \
               "$base_image" "$esgz_opt" <<'PY'
import json, sys
name, image, esgz, ready, inspect, base_image, esgz_opt = sys.argv[1:]
j = json.load(open(inspect))
print(json.dumps({"name": name, "image": image, "esgz_image": esgz, "esgz_opt_image": esgz_opt, "ready": ready,
                  "base_image": base_image,
                  "traced_bytes": j["traced_bytes"], "blob_bytes": j["blob_bytes"]}) + ",")
PY
)
  done
  prepared=yes
  cat > "$work/spec.json" <<JSON
{"syspgo": "$syspgo", "baseline": "$baseline", "registry": "$link_registry", "registry_log": "$link_log",
 "profile": "$profile", "link_rate_bps": $link_rate_bps, "rtt_ms": $link_rtt_ms,
 "access": $access_json,
 "out": "$out", "work": "$work", "runs": $runs, "warm_runs": ${WARM_RUNS:-3},
 "scale": {"containers": [${SCALE_CONTAINERS:-1,4,16}], "nodes": [${SCALE_NODES:-1,8}], "rounds": ${SCALE_ROUNDS:-3}},
 "systems": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1].split(",")))' "$systems"),
 "containerd": {"stargz_snapshotter": "${stargz_bin:+$stargz_bin/containerd-stargz-grpc}",
                "ctr_remote": "${stargz_bin:+$stargz_bin/ctr-remote}"},
 "workloads": [${wl_json%,}]}
JSON
  python3 - "$work/spec.json" "$out/spec-$profile.json" "$stargz_note" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["notes"] = [n for n in [sys.argv[3]] if n]
if not spec["containerd"]["stargz_snapshotter"]:
    spec["systems"] = [s for s in spec["systems"] if not s.startswith("stargz")]
if not spec["baseline"]:
    spec["systems"] = [s for s in spec["systems"] if not s.endswith("@base")]
json.dump(spec, open(sys.argv[1], "w"))
json.dump(spec, open(sys.argv[2], "w"), indent=1)
PY
  [ -n "$cold" ] && python3 "$here/lib/coldstart.py" --spec "$work/spec.json"
  [ -n "$scale" ] && [ "$profile" = "${profile_list[0]}" ] &&
    python3 "$here/lib/scale.py" --spec "$work/spec.json"
  link_down
done
python3 "$here/lib/report.py" "$out"
