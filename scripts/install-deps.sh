#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what syspgo needs to build, test and run, from Debian's archive.
# Idempotent and fast when everything is present (one dpkg-query, no apt).
#   usage: install-deps.sh [--bench]   (--bench adds the benchmark peers)
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev nlohmann-json3-dev
  libtomlplusplus-dev  # containerd's hosts.toml (registry mirrors and certificates)
  libgtest-dev
  clang llvm libbpf-dev bpftool
  clang-format-14 clang-tidy-14  # make format-check (part of make test), make tidy
  libelf-dev libdw-dev  # the profiler: build-ids, symbols, DWARF lines and inlining
  golang-github-google-pprof-dev  # ... and pprof's profile.proto
  # what the profiler's tests and bench/pgo.sh feed its profiles to:
  # clang-19 (LLVM sample profiles), Go 1.23 (-pgo; bookworm-backports)
  clang-19 llvm-19 golang-1.23-go
  libfuse3-dev fuse3
  runc docker-registry busybox-static python3
  skopeo  # the integration tests check that other tools still read our images
  umoci   # ... and that we read theirs (umoci writes the root as "/")
  openssl # the trust tests make keys as the docs say
  # the containerd snapshotter: gRPC with containerd's own .proto files,
  # its metadata in SQLite, the pull helper in Go on containerd's client,
  # and containerd itself for the tests
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev libsqlite3-dev
  golang-go golang-github-containerd-containerd-dev containerd
)
if [ "${1:-}" = "--bench" ]; then
  packages+=(debootstrap bc iproute2 curl time valgrind redis-server redis-tools
             golang-github-containerd-stargz-snapshotter-dev
             # bench/pgo.sh: instrumented PGO's runtime (libclang_rt.profile),
             # and apt-get source's unpacker for the PGO corpus's programs
             libclang-rt-19-dev dpkg-dev
             # bench/lib/token_server.py: the token service of LINK_ACCESS=tls-token
             python3-jwt python3-cryptography openssl)
  # ... and npm for the sources it fetches from the npm registry, unless
  # an npm is there already (one that came with another Node.js).
  command -v npm > /dev/null || packages+=(npm)
fi

# The PGO corpus (bench/pgo/corpus.py) builds Debian's own sources
# (apt-get source): it needs a deb-src entry for bookworm.
if [ "${1:-}" = "--bench" ] &&
  ! grep -rqsE "^(deb-src|Types:.*deb-src)" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: no deb-src entry for apt-get source; run as root to add one" >&2
    exit 1
  fi
  echo "install-deps.sh: adding a deb-src entry (bookworm main) for bench/pgo/corpus.py" >&2
  cat > /etc/apt/sources.list.d/syspgo-deb-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Go 1.23 is in bookworm-backports (Debian's own archive, signed by the
# same key); packages are taken from it only when named with -t.
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
apt-get update -qq
backports=()
regular=()
for p in "${missing[@]}"; do
  case "$p" in
    golang-1.23-*) backports+=("$p") ;;
    *) regular+=("$p") ;;
  esac
done
[ ${#regular[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${regular[@]}" >/dev/null
[ ${#backports[@]} -eq 0 ] ||
  apt-get install -y -qq --no-install-recommends -t bookworm-backports "${backports[@]}" >/dev/null
