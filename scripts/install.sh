#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make install`: installs a release build (scripts/release.sh) under
# $DESTDIR$PREFIX: the programs, their split debug files under
# lib/debug/.build-id, the systemd units (their paths rewritten to PREFIX),
# the docs and the example configuration. Nothing in /etc is written: the
# operator copies the examples there (docs/operating.md).
#   usage: install.sh BUILD_DIR PREFIX [DESTDIR]
set -euo pipefail
build=${1:?usage: install.sh BUILD_DIR PREFIX [DESTDIR]}
prefix=${2:?usage: install.sh BUILD_DIR PREFIX [DESTDIR]}
dest=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$dest$prefix/bin
install -d -m 0755 "$bin"
for name in syspgo syspgo-snapshotter syspgo-containerd-pull; do
  [ -x "$build/bin/$name" ] || continue
  install -m 0755 "$build/bin/$name" "$bin/$name"
  if [ -f "$build/bin/$name.debug" ]; then
    # Where gdb and eu-stack look: lib/debug/.build-id/xx/yyyy.debug.
    id=$(readelf -n "$build/bin/$name" | awk '/Build ID/ {print $3}')
    if [ -n "$id" ]; then
      install -D -m 0644 "$build/bin/$name.debug" \
        "$dest$prefix/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
    fi
  fi
done
units=$dest$prefix/lib/systemd/system
install -d -m 0755 "$units"
for unit in "$root"/packaging/*.service "$root"/packaging/*.timer; do
  sed "s|/usr/local/|$prefix/|g" "$unit" > "$units/$(basename "$unit")"
  chmod 0644 "$units/$(basename "$unit")"
done
doc=$dest$prefix/share/doc/syspgo
install -d -m 0755 "$doc"
install -m 0644 "$root"/README.md "$root"/LICENSE "$root"/docs/*.md "$doc/"
examples=$dest$prefix/share/syspgo/examples
install -d -m 0755 "$examples"
cp -r "$root"/examples/. "$examples/"
echo "installed syspgo under $dest$prefix (bin, lib/systemd/system, share/doc/syspgo, share/syspgo/examples)"
