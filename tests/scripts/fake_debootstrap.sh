#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A stand-in for debootstrap in tests/scripts/build_rootfs_test.sh only: it
# behaves as the real one does where build-rootfs.sh can trip over it. It
# writes a log without "I: " lines for a while, churns files in its target
# as dpkg does (created and removed many times a second, so that du meets
# files that vanished), mounts proc in the target when root (as debootstrap
# does), starts a child that outlives a kill of this shell (as dpkg in the
# chroot does), then ends as FAKE_MODE says: ok (unmounts, exit 0), fail
# (exit 1, proc left mounted), hang (runs until killed).
#   usage: fake_debootstrap.sh [--options...] SUITE TARGET [MIRROR]
set -u
args=()
for a in "$@"; do case "$a" in --*) ;; *) args+=("$a") ;; esac; done
target=${args[1]:?target}
mode=${FAKE_MODE:-ok}
seconds=${FAKE_SECONDS:-4}
mkdir -p "$target/proc" "$target/var/lib/dpkg"
echo "W: a warning, and no step line yet"
if [ "$(id -u)" -eq 0 ]; then mount -t proc proc "$target/proc"; fi
# The "dpkg" child: it records its pid and runs until killed.
(exec sleep 1000) &
echo $! > "${FAKE_CHILD_PIDFILE:-/dev/null}"
end=$((SECONDS + seconds))
i=0
while [ "$mode" = hang ] || [ "$SECONDS" -lt "$end" ]; do
  for j in $(seq 20); do
    : > "$target/var/lib/dpkg/f$i.$j.dpkg-new"
    mv "$target/var/lib/dpkg/f$i.$j.dpkg-new" "$target/var/lib/dpkg/f$i.$j"
    rm -f "$target/var/lib/dpkg/f$((i - 1)).$j"
  done
  i=$((i + 1))
  [ $((i % 50)) -eq 0 ] && echo "progress without a step line: $i"
done
case "$mode" in
  ok)
    echo "I: Base system installed successfully."
    if [ "$(id -u)" -eq 0 ]; then umount "$target/proc"; fi
    kill "$(cat "${FAKE_CHILD_PIDFILE:-/dev/null}" 2>/dev/null)" 2>/dev/null
    exit 0 ;;
  *) echo "E: Couldn't download packages: fake-package"; exit 1 ;;
esac
