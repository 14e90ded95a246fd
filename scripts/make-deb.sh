#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make deb`: a binary Debian package of a release build, made with
# dpkg-deb. Its dependencies are the packages that own the shared
# libraries the programs load (dpkg -S), plus runc and fuse3 which they
# run; the split debug files are left out (they stay in BUILD_DIR/bin).
# /etc/syspgo/snapshotter.json and trust-policy.json are conffiles.
# SYSPGO_DEB_COMPRESSION (gzip, xz, none) chooses dpkg-deb's compression.
#   usage: make-deb.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=${1:?usage: make-deb.sh BUILD_DIR OUT_DIR}
out=${2:?usage: make-deb.sh BUILD_DIR OUT_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^project(syspgo VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
arch=$(dpkg --print-architecture)
stage=$(mktemp -d /tmp/syspgo-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
"$root/scripts/install.sh" "$build" /usr "$stage" > /dev/null
rm -rf "$stage/usr/lib/debug"
# The configuration the docs' set-up names, as conffiles (dpkg keeps an
# operator's edits on upgrade): the snapshotter's settings and a trust
# policy holding the built-in default, to edit in place.
install -d -m 0755 "$stage/etc/syspgo"
install -m 0644 "$root/examples/containerd/snapshotter.json" "$stage/etc/syspgo/snapshotter.json"
install -m 0644 "$root/examples/trust/trust-policy.json" "$stage/etc/syspgo/trust-policy.json"
# The packages owning the shared libraries the programs load (the Go
# helper is static: it needs none). dpkg's database may name a library
# by its /lib path on a merged-/usr system.
owner() {
  dpkg -S "$1" 2>/dev/null || dpkg -S "${1#/usr}" 2>/dev/null || true
}
# Direct needs only (NEEDED entries), as dpkg-shlibdeps counts them.
libs=$(for f in "$stage"/usr/bin/*; do
         for soname in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
           ldconfig -p | awk -v n="$soname" '$1 == n && /x86-64/ {print $NF; exit}'
         done
       done | sort -u)
depends=$(for lib in $libs; do owner "$(realpath "$lib")"; done | cut -d: -f1 | sort -u |
          grep -v '^libc6$' | while read -r p; do
            v=$(dpkg-query -W -f='${Version}' "$p"); echo "$p (>= ${v%%-*})"; done |
          paste -sd, | sed 's/,/, /g')
[ -n "$depends" ] || { echo "make-deb.sh: found no library packages" >&2; exit 1; }
mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: syspgo
Version: $version
Architecture: $arch
Maintainer: syspgo developers <syspgo@localhost>
Depends: libc6, $depends, runc, fuse3
Recommends: containerd
Section: admin
Priority: optional
Installed-Size: $(du -sk "$stage/usr" "$stage/etc" | awk '{n += $1} END {print n}')
Description: whole-system profile-guided optimization driven by eBPF
 Container cold start from runtime images (a lazy FUSE root file system that
 pushes the pages a start reads into the page cache), a containerd remote
 snapshotter, eBPF CPU profiles for compiler PGO and a scheduling agent.
CONTROL
printf '%s\n' /etc/syspgo/snapshotter.json /etc/syspgo/trust-policy.json > "$stage/DEBIAN/conffiles"
# systemd learns of the units; enabling them is the operator's step
# (docs/containerd.md), as it changes what containerd talks to.
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
POSTINST
chmod 0755 "$stage/DEBIAN/postinst"
mkdir -p "$out"
dpkg-deb --root-owner-group ${SYSPGO_DEB_COMPRESSION:+-Z"$SYSPGO_DEB_COMPRESSION"} --build "$stage" "$out/syspgo_${version}_${arch}.deb" > /dev/null
echo "$out/syspgo_${version}_${arch}.deb"
