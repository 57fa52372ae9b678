#!/usr/bin/env bash
# The main job: install, build, and run VMStore on the embedded default - a pool
# directory with the native chain-free engine and the SQLite catalog - with a demo
# VM (a disk with data and a snapshot), checked by fsck, then served over NBD on
# loopback until Ctrl-C / SIGTERM.
# Usage: bash scripts/run.sh [POOL_DIR] [LISTEN]   (defaults /var/lib/vmstore/demo, 127.0.0.1:10809)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
pool=${1:-/var/lib/vmstore/demo}
listen=${2:-127.0.0.1:10809}
mkdir -p "$(dirname "$pool")"
vmstore=./build/vmstore
if ! "$vmstore" --pool "$pool" vm show demo >/dev/null 2>&1; then
  "$vmstore" --pool "$pool" demo --size 1G
fi
"$vmstore" --pool "$pool" fsck
"$vmstore" --pool "$pool" snapshot list demo
cat <<EOT

Connect with, for example:
  nbdinfo --list nbd://$listen
  qemu-img info nbd://$listen/demo/disk0
  qemu-system-x86_64 -drive file=nbd://$listen/demo/disk0,format=raw ...
EOT
exec "$vmstore" --pool "$pool" serve --listen "$listen"
