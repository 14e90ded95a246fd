#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the stargz snapshotter daemon (bench/stargz/main.go) and ctr-remote
# from Debian's Go sources (golang-github-containerd-stargz-snapshotter-dev
# and its dependencies under /usr/share/gocode) with Debian's Go, in GOPATH
# mode, offline. Prints the directory holding both binaries; cached in
# $BENCH_CACHE/stargz-bin keyed by the sources' checksum.
#   usage: build.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${BENCH_CACHE:-/var/cache/syspgo-bench}/stargz-bin
key=$( (sha256sum "$here/main.go"; dpkg-query -W golang-github-containerd-stargz-snapshotter-dev golang-go) | sha256sum | cut -c1-16)
if [ -x "$cache/$key/containerd-stargz-grpc" ] && [ -x "$cache/$key/ctr-remote" ]; then
  echo "$cache/$key"
  exit 0
fi
command -v go >/dev/null || { echo "stargz/build.sh: Debian's golang-go is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/syspgo-stargz-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/gopath/src/syspgo-bench/stargz" "$cache/$key.tmp"
cp "$here/main.go" "$work/gopath/src/syspgo-bench/stargz/"
export GOPATH="$work/gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS= GOCACHE="$work/cache" \
       GOPROXY=off CGO_ENABLED=1
(cd "$work/gopath/src/syspgo-bench/stargz" && go build -o "$cache/$key.tmp/containerd-stargz-grpc" .) \
  > "$work/build.log" 2>&1 || { echo "stargz/build.sh: building the snapshotter failed:" >&2; tail -30 "$work/build.log" >&2; exit 1; }
go build -o "$cache/$key.tmp/ctr-remote" github.com/containerd/stargz-snapshotter/cmd/ctr-remote \
  > "$work/build.log" 2>&1 || { echo "stargz/build.sh: building ctr-remote failed:" >&2; tail -30 "$work/build.log" >&2; exit 1; }
rm -rf "${cache:?}/$key"
mv "$cache/$key.tmp" "$cache/$key"
echo "$cache/$key"
