#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Copies a containerd .proto file without its gogoproto annotations (Go code
# generator options; nothing on the wire): cmake/Protos.cmake.
#   usage: strip-gogoproto.sh IN OUT
set -eu
mkdir -p "$(dirname "$2")"
sed -E -e '/^import weak "gogoproto/d' -e '/option \(gogoproto/d' \
    -e 's/ *\[\(gogoproto[^]]*\]//g' "$1" > "$2.tmp"
mv "$2.tmp" "$2"
