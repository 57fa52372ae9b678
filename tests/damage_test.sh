#!/usr/bin/env bash
# One damaged index node is contained to the disks that use it (issue 24,
# item 6): `vmstore serve` starts, the damaged disk (and a snapshot sharing
# the node) fail their reads with EIO, every other disk is served, the log
# and fsck name the damage, and deleting the damaged disk leaves a clean pool.
# Before: serve exited at start (rc 2) and every disk was unavailable.
# Usage: damage_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: damage_test.sh VMSTORE_BINARY}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools qemu-io python3
use_tmp
export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null
p=$VMSTORE_POOL

# The 4 KiB units of the pool's containers that are index nodes: neither
# zero, nor the volume table, nor data written with one of these patterns.
nodes() {
  python3 - "$p/containers" <<'PY'
import os, sys
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    data = open(os.path.join(d, name), 'rb').read()
    header, units = 4096, 16384          # a 64 MiB container: 16,384 units, 8 bytes of sum each
    first = header + units * 8
    for off in range(first, len(data), 4096):
        u = data[off:off + 4096]
        if len(u) < 4096 or u == bytes(4096) or u[:4] == b'VTB1':
            continue
        if u == bytes([u[0]]) * 4096 and u[0] in (0x41, 0x42, 0x43):
            continue
        print(name, off)
PY
}

"$bin" vm create vm >/dev/null
"$bin" disk create vm a --size 8M >/dev/null
start_server
qemu-io -f raw -c "write -P 0x41 0 4M" "nbd+unix:///vm/a?socket=$tmp/nbd.sock" >/dev/null
stop_server
mapfile -t a_nodes < <(nodes)
check "disk a has index nodes to damage" 0 "" -- test "${#a_nodes[@]}" -ge 1

"$bin" snapshot create vm s1 >/dev/null  # shares disk a's nodes
"$bin" disk create vm b --size 8M >/dev/null
start_server
qemu-io -f raw -c "write -P 0x42 0 4M" "nbd+unix:///vm/b?socket=$tmp/nbd.sock" >/dev/null
stop_server

for n in "${a_nodes[@]}"; do  # one byte of each of disk a's nodes
  read -r file off <<<"$n"
  printf '\x5a' | dd of="$p/containers/$file" bs=1 seek=$((off + 40)) conv=notrunc status=none
done

start_server
check "serve starts with a damaged index node" 0 "" -- kill -0 "$server"
check "the damage is logged, naming the volume" 0 "is damaged and fails its reads and writes" -- cat "$tmp/serve.log"
check "the damaged disk fails its reads with EIO" 1 "Input/output error" -- \
  qemu-io -f raw -c "read 0 64k" "nbd+unix:///vm/a?socket=$tmp/nbd.sock"
snap=$("$bin" snapshot list vm | awk '/s1/ {print $1; exit}')
check "a snapshot sharing the node fails too" 1 "Input/output error" -- \
  qemu-io -f raw -r -c "read 0 64k" "nbd+unix:///vm/a@$snap?socket=$tmp/nbd.sock"
check "the other disk is served, its data intact" 0 "read 4194304/4194304" -- \
  qemu-io -f raw -c "read -P 0x42 0 4M" "nbd+unix:///vm/b?socket=$tmp/nbd.sock"
check "and written" 0 "wrote 65536/65536" -- \
  qemu-io -f raw -c "write -P 0x43 4M 64k" "nbd+unix:///vm/b?socket=$tmp/nbd.sock"
check "disk list still lists every disk" 0 "a .*b|b .*a" -- bash -c "'$bin' disk list vm | tr '\n' ' '"
stop_server
check "fsck reports the damaged volume and exits 2" 2 "volume [0-9]+: .*index node" -- "$bin" fsck

# The damaged disk and its snapshot can be deleted; the pool is clean after.
check "delete the damaged snapshot" 0 "" -- "$bin" snapshot delete "vm@$snap"
check "delete the damaged disk" 0 "" -- "$bin" disk delete vm/a
check "fsck clean after the damaged disk is gone" 0 "^clean" -- "$bin" fsck
start_server
check "the other disk still reads back" 0 "read 4194304/4194304" -- \
  qemu-io -f raw -c "read -P 0x42 0 4M" "nbd+unix:///vm/b?socket=$tmp/nbd.sock"
stop_server

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
