#!/usr/bin/env bash
# Installs what VMStore needs (Debian 12, as root) and builds it into build/.
# Usage: bash scripts/setup.sh [BUILD_DIR [extra cmake args...]]
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(g++ cmake ninja-build pkg-config zlib1g-dev libgtest-dev libgmock-dev libcli11-dev libxxhash-dev libsqlite3-dev nlohmann-json3-dev jq qemu-utils libnbd-bin fio clang libclang-rt-14-dev util-linux libgnutls28-dev openssl libcpp-httplib-dev curl xfsprogs btrfs-progs libbtrfsutil-dev zfs-fuse nbdkit gnuplot-nox libnbd-dev iproute2 libssl-dev debootstrap systemd prometheus libtomlplusplus-dev libspdlog-dev etcd-server etcd-client python3 chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The web console's libraries (compiled in) and the browser tests' driver
# (tests/web_test.sh), each pinned by its lockfile.
for dir in web tests/web; do
  if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund >/dev/null)
  fi
done
build=${1:-build}
shift || true
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
# VMSTORE_TARGETS="a b": build only those targets (default: all).
# shellcheck disable=SC2086
ninja -C "$build" ${VMSTORE_TARGETS:-}
