#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The .deb as an operator installs it (issue 26): made by scripts/make-deb.sh
# from the test build's programs (debug information stripped, as a release
# build has it), unpacked into a scratch root. Every path the set-up docs
# name for the package exists there; /etc/syspgo holds the conffiles; the
# snapshotter's unit never holds containerd back; the snapshotter starts
# with the installed configuration (no trust policy file needed), refuses
# at start, with one message, a trust policy it was told to use that is
# missing and a metrics file it cannot write, and marks its metrics down
# when it stops. Then the docs' set-up with the installed files: containerd
# from the installed example configuration, an image started from its
# runtime image through the installed snapshotter and pull helper, and a
# snapshotter with a wrong configuration that leaves containerd serving.
#   usage: deb_install_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: deb_install_test.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
src=$here/../..
work=$(mktemp -d /tmp/deb-install-test.XXXXXX)
snap=
cleanup() {
  if [ -n "$snap" ] && kill -0 "$snap" 2>/dev/null; then kill "$snap"; wait "$snap" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
for tool in dpkg-deb objcopy readelf; do
  command -v "$tool" > /dev/null || { echo "SKIPPED: $tool is not installed"; exit 0; }
done
for name in syspgo syspgo-snapshotter; do
  [ -x "$build/bin/$name" ] || { echo "SKIPPED: $build/bin/$name is not built"; exit 0; }
done

# A release-like build directory: the programs without debug information.
mkdir -p "$work/build/bin"
for name in syspgo syspgo-snapshotter syspgo-containerd-pull; do
  [ -x "$build/bin/$name" ] || continue
  objcopy --strip-debug "$build/bin/$name" "$work/build/bin/$name"
done
deb=$(SYSPGO_DEB_COMPRESSION=gzip "$src/scripts/make-deb.sh" "$work/build" "$work/out")
[ -f "$deb" ] || { echo "FAIL: make-deb.sh made no package" >&2; exit 1; }
root=$work/root
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$work/control"

# Conffiles: the configuration the docs' set-up starts from.
for f in /etc/syspgo/snapshotter.json /etc/syspgo/trust-policy.json; do
  grep -qx "$f" "$work/control/conffiles" || fail "$f is not a conffile"
  [ -f "$root$f" ] || fail "$f is not installed"
done

# Every package path the docs name (under /usr or /etc/syspgo, outside the
# from-source /usr/local lines) is in the package.
for doc in containerd.md operating.md; do
  for p in $(grep -o '/\(usr\|etc/syspgo\)/[A-Za-z0-9_./-]*' "$src/docs/$doc" |
             grep -v '^/usr/local/' | grep syspgo | sed 's/[.,:]*$//' | sort -u); do
    case $p in *'*'*) continue ;; esac
    [ -e "$root$p" ] || fail "docs/$doc names $p, which the package does not install"
  done
done

# The unit: its programs are in the package, it never holds containerd back.
unit=$root/usr/lib/systemd/system/syspgo-snapshotter.service
[ -f "$unit" ] || fail "no syspgo-snapshotter.service"
exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[ -x "$root$exe" ] || fail "ExecStart names $exe, which the package does not install"
config=$(sed -n 's/^ExecStart=.*--config \([^ ]*\).*/\1/p' "$unit")
[ -f "$root$config" ] || fail "ExecStart's --config $config is not installed"
if grep -Eq '^(Requires|RequiredBy|BindsTo|PartOf|Requisite)=.*containerd' "$unit"; then
  fail "the unit ties containerd to the snapshotter: $(grep -E 'containerd' "$unit" | tr '\n' ' ')"
fi
grep -q '^Restart=on-failure' "$unit" || fail "the unit does not restart on failure"
# systemd's own check of the unit (offline), with its programs where the
# package puts them: only the back-off keys systemd before 254 does not
# know may be reported.
if command -v systemd-analyze > /dev/null; then
  sed "s|/usr/bin/|$root/usr/bin/|g" "$unit" > "$work/syspgo-snapshotter.service"
  report=$(systemd-analyze verify "$work/syspgo-snapshotter.service" 2>&1 |
           grep -v "Unknown key 'Restart\(Steps\|MaxDelaySec\)'" || true)
  [ -z "$report" ] || fail "systemd-analyze verify: $report"
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED (not root): starting the installed snapshotter"
  [ "$failures" -eq 0 ] || exit 1
  exit 0
fi
bin=$root/usr/bin/syspgo
sock=$work/run/snapshotter.sock
metrics=$work/textfile/sub/syspgo.prom  # its directory does not exist yet
# The installed configuration, with this test's places (flags win).
"$bin" snapshotter --config "$root/etc/syspgo/snapshotter.json" --root "$work/store" \
  --address "$sock" --metrics-file "$metrics" > "$work/snap.log" 2>&1 &
snap=$!
for _ in $(seq 100); do grep -q serving "$work/snap.log" && break; sleep 0.1; done
grep -q serving "$work/snap.log" || fail "the snapshotter did not start: $(cat "$work/snap.log")"
for _ in $(seq 50); do [ -f "$metrics" ] && break; sleep 0.1; done
grep -q '^syspgo_snapshotter_up 1$' "$metrics" 2>/dev/null || fail "no metrics while it runs"
kill "$snap"
wait "$snap" || fail "the snapshotter did not stop cleanly: $(cat "$work/snap.log")"
snap=
grep -q '^syspgo_snapshotter_up 0$' "$metrics" || fail "its metrics are not marked down"
grep -q 'stopped serving' "$work/snap.log" || fail "the stop is not logged"

# A trust policy the operator named that is missing: refused at start.
printf '{"trust_policy": "%s"}\n' "$work/no-policy.json" > "$work/bad.json"
if "$bin" snapshotter --config "$work/bad.json" --root "$work/store" --address "$sock" \
     > "$work/bad.log" 2>&1; then
  fail "a missing trust policy named in the config was accepted"
fi
grep -q "no-policy.json" "$work/bad.log" || fail "the refusal does not name the file: $(cat "$work/bad.log")"
# A metrics file it cannot write: refused at start, one message.
if timeout 20 "$bin" snapshotter --root "$work/store" --address "$sock" \
     --metrics-file /proc/self/no/metrics.prom > "$work/metrics.log" 2>&1; then
  fail "an unusable --metrics-file was accepted"
fi
[ "$(grep -c metrics "$work/metrics.log")" -eq 1 ] ||
  fail "not one message for the metrics file: $(cat "$work/metrics.log")"

# The docs' set-up with the installed files: containerd configured from
# the installed example, the installed snapshotter from the installed
# configuration, an image with a runtime image pulled with the installed
# helper and started from its runtime image; then a snapshotter that
# cannot start, and containerd still serving.
missing=
for tool in containerd ctr containerd-shim-runc-v2 docker-registry busybox; do
  command -v "$tool" > /dev/null || missing="$missing $tool"
done
if [ -n "$missing" ] || [ ! -x "$root/usr/bin/syspgo-containerd-pull" ]; then
  echo "SKIPPED (missing:${missing:- syspgo-containerd-pull}): the containerd set-up"
  [ "$failures" -eq 0 ] || exit 1
  exit 0
fi
. "$src/scripts/registry.sh"
ctd=
stop_all() {
  if [ -n "$ctd" ]; then
    ctr -a "$work/ctd.sock" images rm --sync "$ref" > /dev/null 2>&1 || true
    kill "$ctd" 2>/dev/null || true
    wait "$ctd" 2>/dev/null || true
    ctd=
  fi
  if [ -n "$snap" ] && kill -0 "$snap" 2>/dev/null; then kill "$snap"; wait "$snap" || true; fi
  snap=
  pkill -f "containerd-shim-runc-v2 .*$work" 2>/dev/null || true
  stop_registry
}
cleanup() {
  stop_all
  for m in $(awk -v d="$work" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
start_registry "$work/registry"
ref=127.0.0.1:$registry_port/deb/app:v1
mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp"
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
for applet in sh echo cat; do ln -s busybox "$work/rootfs/bin/$applet"; done
echo "served from its runtime image" > "$work/rootfs/hello"
"$bin" build-image --layer "$work/rootfs" --cmd '["sh"]' "$ref" > "$work/build.log" 2>&1 ||
  fail "build-image: $(cat "$work/build.log")"
"$bin" image build --root "$work/builder" "$ref" --no-trace -o "$work/rt" > "$work/rt.log" 2>&1 ||
  fail "image build: $(cat "$work/rt.log")"
"$bin" image push --root "$work/builder" "$ref" "$work/rt" >> "$work/rt.log" 2>&1 ||
  fail "image push: $(cat "$work/rt.log")"
# containerd's configuration: the installed example, with this test's places.
{
  echo "version = 2"
  echo "root = \"$work/ctd-root\""
  echo "state = \"$work/ctd-state\""
  echo "[grpc]"
  echo "  address = \"$work/ctd.sock\""
  echo "[ttrpc]"
  echo "  address = \"$work/ctd.sock.ttrpc\""
  sed "/^version = /d; s|/run/syspgo/snapshotter.sock|$sock|; s|/var/lib/syspgo|$work/store|" \
    "$root/usr/share/syspgo/examples/containerd/config.toml"
  echo "[plugins.\"io.containerd.grpc.v1.cri\"]"
  echo "  stream_server_address = \"127.0.0.1\""
  echo "  stream_server_port = \"0\""
} > "$work/containerd.toml"
"$bin" snapshotter --config "$root/etc/syspgo/snapshotter.json" --root "$work/store" \
  --address "$sock" --metrics-file "$metrics" > "$work/snap2.log" 2>&1 &
snap=$!
containerd --config "$work/containerd.toml" > "$work/containerd.log" 2>&1 &
ctd=$!
for _ in $(seq 300); do ctr -a "$work/ctd.sock" version > /dev/null 2>&1 && break; sleep 0.1; done
# Into a variable first: `ctr | grep -q` under pipefail fails when grep
# stops reading early (ctr then dies of SIGPIPE).
plugins=$(ctr -a "$work/ctd.sock" plugins ls 2>&1 || true)
grep -Eq 'snapshotter.*syspgo.*ok' <<< "$plugins" ||
  fail "containerd has no syspgo snapshotter: $(grep -i syspgo <<< "$plugins")"
"$bin" pull --containerd-address "$work/ctd.sock" "$ref" > "$work/pull.log" 2>&1 ||
  fail "pull into containerd: $(cat "$work/pull.log")"
out=$(ctr -a "$work/ctd.sock" run --rm --snapshotter syspgo "$ref" deb1 cat /hello 2>&1) ||
  fail "ctr run: $out"
[ "$out" = "served from its runtime image" ] || fail "the container read: $out"
grep -q "committed as a remote snapshot (the image's root file system)" "$work/snap2.log" ||
  fail "not started from its runtime image: $(cat "$work/snap2.log")"
ctr -a "$work/ctd.sock" images rm --sync "$ref" > /dev/null 2>&1 || fail "image removal"
# A mistake in the snapshotter's configuration: it does not start (the
# unit would restart it); containerd goes on serving.
kill "$snap"
wait "$snap" || true
snap=
printf '{"address": "%s", "no_such_setting": 1}\n' "$sock" > "$work/wrong.json"
if "$bin" snapshotter --config "$work/wrong.json" --root "$work/store" > "$work/wrong.log" 2>&1; then
  fail "a wrong configuration was accepted"
fi
grep -q no_such_setting "$work/wrong.log" || fail "the refusal does not name the setting"
ctr -a "$work/ctd.sock" version > /dev/null 2>&1 || fail "containerd stopped with the snapshotter"
kill -0 "$ctd" 2>/dev/null || fail "containerd exited"
stop_all

[ "$failures" -eq 0 ] || exit 1
echo "deb_install_test: all checks passed ($deb)"
