#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: builds a small sample image (busybox from Debian), starts a
# local docker-registry, and starts the image with syspgo twice (a cold
# start of an application that exits, then an HTTP service with a tcp
# readiness check on the now local layers),
# printing the phase timing of each start.
# Everything runs in a temporary directory that is removed at the end; the
# registry is our child and is stopped and reaped on exit or Ctrl-C.
set -euo pipefail

syspgo=$(realpath "${1:?usage: demo.sh path/to/syspgo}")
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (overlayfs mounts and runc); run: sudo make demo" >&2
  exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
. "$here/registry.sh"
work=$(mktemp -d /tmp/syspgo-demo.XXXXXX)
cleanup() {
  stop_registry
  "$syspgo" cleanup --root "$work/store" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_registry "$work/registry"
port=$registry_port
svc_port=$(free_port)

echo "== building a sample image from busybox-static and pushing it to 127.0.0.1:$port"
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,etc,tmp,www}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh echo cat ls httpd sleep true uname; do ln -s busybox "$rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"
echo '<h1>hello from a syspgo container</h1>' > "$rootfs/www/index.html"
image="127.0.0.1:$port/demo/busybox:latest"
"$syspgo" build-image --layer "$rootfs" --cmd '["sh","-c","echo hello from $(uname -n)"]' "$image" >/dev/null

echo
echo "== cold start of an application (pull + unpack + mount + runc; ready = exit 0)"
"$syspgo" run --root "$work/store" --timing-json "$work/app.json" "$image"

echo
echo "== start of a service (ready = tcp:$svc_port accepts a connection), layers now local"
"$syspgo" run --root "$work/store" --ready "tcp:$svc_port" --timing-json "$work/svc.json" "$image" \
  -- httpd -f -p "127.0.0.1:$svc_port" -h /www

echo
echo "== timing (seconds)"
printf '%-12s %8s %8s %8s %8s\n' start deploy running ready total
field() { sed -n "s/.*\"$2\": \([0-9.e-]*\).*/\1/p" "$1"; }
for f in app svc; do
  printf '%-12s %8.3f %8.3f %8.3f %8.3f\n' "$f" "$(field "$work/$f.json" deploy_s)" \
    "$(field "$work/$f.json" running_s)" "$(field "$work/$f.json" ready_s)" \
    "$(field "$work/$f.json" total_s)"
done
