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
# when it stops.
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

[ "$failures" -eq 0 ] || exit 1
echo "deb_install_test: all checks passed ($deb)"
