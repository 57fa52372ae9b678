#!/usr/bin/env bash
# Full disk: a pool on a 320 MiB XFS file system (a loop device), filled up
# through NBD while `vmstore serve` runs. Writes must fail with ENOSPC (not EIO,
# not a crash); what was written and the snapshots stay readable; snapshots can
# still be created and deleted; deleting a snapshot or trimming gives room back
# and writes succeed again; a SIGKILL while full recovers; fsck stays clean.
# Needs root (mount). Usage: full_disk_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: full_disk_test.sh VMSTORE_BINARY}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools qemu-io mkfs.xfs losetup mount
require_root
use_tmp
mnt=$tmp/mnt
trap 'cleanup_tmp_mount "$mnt"' EXIT

truncate -s 320M "$tmp/fs.img"
mkfs.xfs -q "$tmp/fs.img"
mkdir "$mnt"
mount -o loop "$tmp/fs.img" "$mnt" || { echo "FAIL: cannot mount a loop XFS file system"; exit 1; }

export VMSTORE_POOL=$mnt/pool
"$bin" init >/dev/null
"$bin" vm create full >/dev/null
"$bin" disk create full d --size 1G >/dev/null
start_server
d=$url/full/d
io() { qemu-io -f raw "${@:2}" "$1"; }    # io URL -c ... (flushes when it ends)
# verify URL -c "read -P ..." ...: "ok" when every read ran and matched its
# pattern (qemu-io reports a mismatch but still prints the read line).
verify() {
  local out
  out=$(qemu-io -r -f raw "${@:2}" "$1" 2>&1)
  if grep -q "verification failed" <<<"$out" || [[ $(grep -c '^read ' <<<"$out") -ne $(((${#@} - 1) / 2)) ]]; then
    echo "$out"
    return 1
  fi
  echo ok
}
# fill OFFSET: 4 MiB writes from OFFSET on until one fails with ENOSPC (at most 200).
fill() {
  local off=$1 out
  for _ in $(seq 200); do
    out=$(io "$d" -c "write -P 0x22 $off 4M" 2>&1)
    if grep -q "No space left on device" <<<"$out"; then
      echo "ENOSPC at $((off >> 20)) MiB"
      return 0
    fi
    grep -q "wrote 4194304/4194304" <<<"$out" || { echo "unexpected: $out"; return 1; }
    off=$((off + 4194304))
  done
  echo "never full"
  return 1
}
alive() { kill -0 "$server" 2>/dev/null && echo alive; }

check "48 MiB written" 0 "wrote 50331648/50331648" -- io "$d" -c "write -P 0x11 0 48M"
check "snapshot s1" 0 "created snapshot" -- "$bin" snapshot create full s1
s1=$("$bin" snapshot list full | awk 'NR > 1 && $1 ~ /^s1_/ {print $1}')
check "the same 48 MiB overwritten (s1 keeps the old blocks)" 0 "wrote 50331648/50331648" -- \
  io "$d" -c "write -P 0x33 0 48M"
check "filling up: ENOSPC, not EIO" 0 "^ENOSPC at" -- fill $((48 << 20))
check "the server is still up" 0 "^alive$" -- alive
check "what was written reads back" 0 "^ok$" -- verify "$d" -c "read -P 0x33 0 48M"
check "the snapshot reads back" 0 "^ok$" -- verify "$d@$s1" -c "read -P 0x11 0 48M"
check "more data is refused while full" 1 "No space left on device" -- io "$d" -c "write -P 0x22 460M 4M"
check "status works while full" 0 "" -- "$bin" status
check "a snapshot can be taken while full" 0 "created snapshot" -- "$bin" snapshot create full s2
s2=$("$bin" snapshot list full | awk 'NR > 1 && $1 ~ /^s2_/ {print $1}')
check "and deleted" 0 "" -- "$bin" snapshot delete "full@$s2"
check "deleting s1 frees its 48 MiB" 0 "" -- "$bin" snapshot delete "full@$s1"
w16() {  # w16 PATTERN OFFSET_MIB: 16 MiB as four 4 MiB writes
  io "$d" -c "write -P $1 $(($2))M 4M" -c "write -P $1 $(($2 + 4))M 4M" -c "write -P $1 $(($2 + 8))M 4M" \
    -c "write -P $1 $(($2 + 12))M 4M"
}
check "writes succeed again after the delete" 0 "" -- bash -c "$(declare -f io w16); d=$d; w16 0x44 460 | grep -c 'wrote 4194304/4194304' | grep -qx 4"
check "full again" 0 "^ENOSPC at" -- fill $((500 << 20))
check "trim while full" 0 "discard 67108864/67108864" -- io "$d" -c "discard 48M 64M"
check "writes succeed again after the trim" 0 "" -- bash -c "$(declare -f io w16); d=$d; w16 0x55 48 | grep -c 'wrote 4194304/4194304' | grep -qx 4"
check "full once more" 0 "^ENOSPC at" -- fill $((600 << 20))

# A crash while full: recovery must not need room it does not have.
kill -KILL "$server"
wait "$server" 2>/dev/null
server=
start_server
d=$url/full/d
check "the server restarts after SIGKILL while full" 0 "^alive$" -- alive
check "data after the restart" 0 "^ok$" -- \
  verify "$d" -c "read -P 0x33 0 48M" -c "read -P 0x55 48M 16M" -c "read -P 0x44 460M 16M"
check "full again after the restart" 0 "^ENOSPC at" -- fill $((900 << 20))
check "trim after the restart" 0 "discard 50331648/50331648" -- io "$d" -c "discard 0 48M"
check "and writes fit again" 0 "" -- bash -c "$(declare -f io w16); d=$d; w16 0x66 48 | grep -c 'wrote 4194304/4194304' | grep -qx 4"
check "which read back" 0 "^ok$" -- verify "$d" -c "read -P 0 0 48M" -c "read -P 0x66 48M 16M" -c "read -P 0x44 460M 16M"
stop_server
src=$?
check "the server stopped cleanly (rc $src)" 0 "" -- test "$src" -eq 0
check "the catalog opens" 0 "full" -- "$bin" vm list
check "fsck clean" 0 "clean" -- "$bin" fsck
echo "full_disk_test: $pass passed, $fail failed"
((fail == 0))
