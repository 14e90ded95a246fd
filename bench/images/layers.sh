# SPDX-License-Identifier: Apache-2.0
# Sourced by the benchmarks: splits a debootstrapped root file system into
# the layers a real image would have (base OS; the Python standard library;
# dist-packages) as hard-linked copies under DIR.
#   split_layers ROOTFS DIR   sets layer_args (--layer ... for build-image)
split_layers() {
  local rootfs=$1 layers=$2
  mkdir -p "$layers/base" "$layers/stdlib/usr/lib" "$layers/packages/usr/lib/python3"
  cp -al "$rootfs/." "$layers/base/"
  layer_args=(--layer "$layers/base")
  if [ -d "$rootfs/usr/lib/python3/dist-packages" ]; then
    local stdlibs=("$rootfs"/usr/lib/python3.[0-9]*) stdlib
    stdlib=${stdlibs[0]}
    rm -rf "$layers/base/usr/lib/$(basename "$stdlib")" "$layers/base/usr/lib/python3/dist-packages"
    cp -al "$stdlib" "$layers/stdlib/usr/lib/"
    cp -al "$rootfs/usr/lib/python3/dist-packages" "$layers/packages/usr/lib/python3/"
    layer_args+=(--layer "$layers/stdlib" --layer "$layers/packages")
  fi
}
