#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds syspgo-containerd-pull from main.go against Debian's Go sources of
# containerd (golang-github-containerd-containerd-dev, /usr/share/gocode)
# with Debian's Go, offline, in GOPATH mode.
#   usage: build.sh OUTPUT CACHE_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
cache=$2
command -v go >/dev/null || { echo "containerd-pull/build.sh: Debian's golang-go is not installed" >&2; exit 1; }
mkdir -p "$cache/gopath/src/syspgo/containerd-pull"
cp "$here/main.go" "$cache/gopath/src/syspgo/containerd-pull/"
export GOPATH="$cache/gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS= GOCACHE="$cache/go-build" \
       GOPROXY=off CGO_ENABLED=0
cd "$cache/gopath/src/syspgo/containerd-pull"
go build -trimpath -ldflags "-s -w" -o "$out.tmp" . 2> "$cache/build.log" || {
  echo "containerd-pull/build.sh: go build failed:" >&2; tail -30 "$cache/build.log" >&2; exit 1; }
mv "$out.tmp" "$out"
