#!/usr/bin/env bash
# The main job: install, build, and run VMStore on the embedded default - a pool
# directory with the native chain-free engine - writing a demo disk, taking a
# snapshot and printing the pool's state, then checking it with fsck.
# Usage: bash scripts/run.sh [POOL_DIR]   (default /var/lib/vmstore/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
pool=${1:-/var/lib/vmstore/demo}
mkdir -p "$(dirname "$pool")"
./build/vmstore --pool "$pool" demo --size 1G
./build/vmstore --pool "$pool" fsck
