# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts that wait on a long child (debootstrap): progress lines
# and the clean-up of what a killed child left mounted. Every function here
# is safe under `set -euo pipefail`: a step that fails (a file that vanished
# under du, a log with no step line yet) gives an empty field, never an exit.
#
#   progress_line LOG DIR SECONDS       one line: seconds, DIR's size, LOG's
#                                       last "I: " step
#   watch_progress PID LOG DIR INTERVAL a progress_line every INTERVAL
#                                       seconds while PID lives; returns when
#                                       PID has exited (not its status)
#   unmount_below DIR                   unmounts every mount at or below DIR,
#                                       deepest first (lazily when busy)

progress_line() {
  local log=$1 dir=$2 seconds=$3 step="" size=""
  # The last step debootstrap announced ("I: Retrieving ..."); none yet is
  # fine.
  step=$(sed -n 's/^I: //p' "$log" 2>/dev/null | tail -n 1 | cut -c 1-67) || true
  # du prints a total even when files vanish under it (dpkg replacing
  # them), and exits 1: the total is what we want. -x: not into the proc
  # and sys debootstrap mounts in the tree.
  size=$(du -smx "$dir" 2>/dev/null | tail -n 1 | cut -f 1) || true
  [[ "$size" =~ ^[0-9]+$ ]] || size=0
  printf '   debootstrap: %d s, %s MB, %s\n' "$seconds" "$size" "${step:-starting}" >&2 || true
}

watch_progress() {
  local pid=$1 log=$2 dir=$3 interval=$4 start=$SECONDS next
  next=$((SECONDS + interval))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.2 || true
    if [ "$SECONDS" -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
      progress_line "$log" "$dir" $((SECONDS - start))
      next=$((SECONDS + interval))
    fi
  done
  return 0
}

unmount_below() {
  local dir mounts m
  dir=$(realpath -m "$1")
  # Mount points are field 5 of mountinfo, with spaces and the like
  # written as octal escapes (\040).
  mounts=$(awk -v d="$dir" '{ p = $5; gsub(/\\040/, " ", p)
                              if (p == d || index(p, d "/") == 1) print p }' \
             /proc/self/mountinfo 2>/dev/null | sort -r) || mounts=""
  [ -n "$mounts" ] || return 0
  while IFS= read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ||
      echo "unmount_below: could not unmount $m" >&2
  done <<< "$mounts"
  return 0
}
