#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds a runtime image for a workload and checks it against what the
# trace recorded and what the merged image holds:
#   bench/rtimage_build.sh path/to/syspgo [WORKLOAD] [-- CMD...]
# (default python-numpy with `python3 -c 'import numpy'`). Traces a cold
# start (`syspgo trace IMAGE`), builds (`syspgo image build`), pushes to a
# local docker-registry, and inspects from the reference alone. Prints the
# traced bytes, blob bytes and their ratio, and metadata entries against
# the paths of the image as overlayfs shows it.
set -euo pipefail
syspgo=$(realpath "${1:?usage: rtimage_build.sh path/to/syspgo [WORKLOAD] [-- CMD...]}")
shift
workload=python-numpy
if [ $# -gt 0 ] && [ "$1" != "--" ]; then workload=$1; shift; fi
[ "${1:-}" = "--" ] && shift
cmd=("$@")
[ ${#cmd[@]} -gt 0 ] || cmd=(python3 -c 'import numpy')
cache=${BENCH_CACHE:-/var/cache/syspgo-bench}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "rtimage_build: run as root" >&2; exit 1; }

"$here/images/build-rootfs.sh" "$workload" "$cache/$workload"
. "$here/../scripts/registry.sh"
. "$here/images/layers.sh"
work=$(mktemp -d /tmp/syspgo-rtbench.XXXXXX)
cleanup() {
  mountpoint -q "$work/merged" 2>/dev/null && umount "$work/merged"
  stop_registry
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start_registry "$work/registry"
split_layers "$cache/$workload/rootfs" "$work/layers"
image="127.0.0.1:$registry_port/bench/$workload:latest"
"$syspgo" build-image "${layer_args[@]}" --cmd '["sh"]' "$image" >/dev/null
store="$work/store"

"$syspgo" trace --root "$store" -o "$work/t.trace" "$image" -- "${cmd[@]}" >/dev/null
start=$(date +%s.%N)
"$syspgo" image build --root "$store" "$image" --trace "$work/t.trace" -o "$work/rt"
end=$(date +%s.%N)
"$syspgo" image push --root "$store" "$image" "$work/rt"
"$syspgo" image inspect --json "$image" > "$work/inspect.json"
"$syspgo" image inspect "$image"

# What the trace recorded inside the image's layers, page-granular.
traced_pages=$("$syspgo" trace show --ranges "$work/t.trace" | python3 -c '
import re, sys
pages = {}
cur = None
for line in sys.stdin:
    m = re.match(r"\s*\d+\s+[\d.]+\s+\d+\s+\d+\s+\d+\s+(\S+).*\[", line)
    if m:
        cur = m.group(1); pages.setdefault(cur, set()); continue
    m = re.match(r"\s+\S+\s+pages (\d+)-(\d+)", line)
    if m and cur:
        pages[cur].update(range(int(m.group(1)), int(m.group(2)) + 1))
    elif not line.startswith(" " * 8):
        cur = None
print(sum(len(p) for p in pages.values()))')

# Paths of the merged image, as overlayfs shows the pulled layers.
mkdir -p "$work/merged"
python3 - "$store" "$work/inspect.json" <<'PY' > "$work/lower"
import json, sys
store, inspect_path = sys.argv[1], sys.argv[2]
j = json.load(open(inspect_path))
digest = j["image_digest"].split(":")[1]
manifest = json.load(open(f"{store}/blobs/sha256/{digest}"))
config = json.load(open(f"{store}/blobs/sha256/{manifest['config']['digest'].split(':')[1]}"))
dirs = [f"{store}/layers/sha256/{d.split(':')[1]}/fs" for d in config["rootfs"]["diff_ids"]]
print(":".join(reversed(dirs)))
PY
mount -t overlay overlay -o ro,lowerdir="$(cat "$work/lower")" "$work/merged"
merged_paths=$(cd "$work/merged" && find . | wc -l)
umount "$work/merged"

python3 - "$work/inspect.json" "$traced_pages" "$merged_paths" "$start" "$end" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
traced_pages, merged_paths = int(sys.argv[2]), int(sys.argv[3])
traced_page_bytes = traced_pages * 4096
blob = j["blob_bytes"]
print()
print(f"build time:              {float(sys.argv[5]) - float(sys.argv[4]):.2f} s")
print(f"trace recorded (pages):  {traced_page_bytes} bytes ({traced_pages} pages)")
print(f"traced bytes (clipped):  {j['traced_bytes']} bytes in {j['traced_files']} files")
print(f"blob bytes:              {blob} ({blob / traced_page_bytes:.4f} of the recorded pages, "
      f"{blob / j['traced_bytes']:.4f} of the clipped bytes)")
print(f"metadata entries:        {j['entries']}; paths in the merged image: {merged_paths} "
      f"({'all listed' if j['entries'] == merged_paths else 'MISMATCH'})")
print(f"metadata / index bytes:  {j['metadata_bytes']} / {j['index_bytes']}")
print(f"image file bytes:        {j['image_file_bytes']} (blob holds {100 * blob / j['image_file_bytes']:.1f}%)")
PY
