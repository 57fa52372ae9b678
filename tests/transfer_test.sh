#!/usr/bin/env bash
# Import, export, diff, send and receive through the vmstore binary, without a
# server (a private NBD server for qemu-img) and with one (the client's
# streams passed to it): every export format compared with qemu-img compare,
# holes kept, progress drawn on a terminal only, incremental streams applied
# on a second pool, and every bad input refused with the reason.
# Usage: transfer_test.sh PATH_TO_VMSTORE
set -u
bin=$(realpath "${1:?usage: transfer_test.sh VMSTORE_BINARY}")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools qemu-img qemu-io jq script
use_tmp
cd "$tmp" || exit 1

export VMSTORE_POOL=$tmp/pool
mib=$((1 << 20))
"$bin" init >/dev/null
"$bin" --pool "$tmp/backup" init >/dev/null

# A qcow2 image: 6 MiB of data in 96 MiB, the rest unallocated.
qemu-img create -q -f qcow2 src.qcow2 96M
qemu-io -f qcow2 -c "write -P 0x11 1M 4M" -c "write -P 0x22 50M 1M" -c "write -P 0x33 95M 1M" src.qcow2 >/dev/null

# --- import / export, no server
check "import a qcow2 image" 0 "imported .*src.qcow2 \(qcow2, 96.0 MiB\) into web/root: 6.0 MiB stored" -- \
  "$bin" import src.qcow2 web/root
check "the VM was made for it" 0 "web +root +96.0 MiB" -- "$bin" disk list
check "import refuses an existing disk" 1 "disk web/root exists" -- "$bin" import src.qcow2 web/root
check "import names a missing file" 1 "cannot read .*nothere.img" -- "$bin" import nothere.img web/other
check "import refuses a snapshot target" 1 "is not a disk VM/DISK" -- "$bin" import src.qcow2 web/root@x
check "a failed import leaves no disk" 1 "" -- sh -c "'$bin' disk list | grep other"
for fmt in raw qcow2 vmdk vhdx vpc vdi qed; do
  check "export as $fmt" 0 "exported web/root \(96.0 MiB\) to .*out.$fmt \($fmt\)" -- \
    "$bin" export web/root "out.$fmt" --format $fmt
  check "$fmt copy equals the source" 0 "Images are identical" -- qemu-img compare src.qcow2 "out.$fmt"
  check "$fmt copy imports back" 0 "imported .* into back/$fmt" -- "$bin" import "out.$fmt" "back/$fmt"
  check "$fmt round trip exported" 0 "exported back/$fmt" -- "$bin" export "back/$fmt" "back.$fmt.raw"
  check "... compared" 0 "Images are identical" -- qemu-img compare -f raw "back.$fmt.raw" src.qcow2
done
check "the file ending picks the format" 0 "\(qcow2\)" -- "$bin" export web/root auto.qcow2
check "export refuses to overwrite" 1 "exists \(--force replaces it\)" -- "$bin" export web/root auto.qcow2
check "... unless --force" 0 "exported" -- "$bin" export web/root auto.qcow2 --force
check "an unknown format is named" 1 "--format floppy: export writes qcow2, qed, raw, vdi, vhdx, vmdk, vpc" -- \
  "$bin" export web/root x.img --format floppy
check "export names a missing disk" 1 "has no disk 'nope'" -- "$bin" export web/nope x.raw
# Holes stay holes: 6 MiB of data in a 96 MiB raw file.
alloc=$(( $(stat -c %b out.raw) * 512 / mib ))
check "the raw export is sparse ($alloc MiB allocated)" 0 "" -- test "$alloc" -le 8
check "quiet when not on a terminal" 0 "^exported" -- "$bin" export web/root quiet.raw
check "a progress bar on a terminal" 0 "100(\.0+)?%" -- script -qec "'$bin' export web/root tty.raw" /dev/null

# --- snapshots, diff, send, receive, no server
"$bin" snapshot create web a >/dev/null
A=$("$bin" --json snapshot list web | jq -r '.[0].full_name')
start_server
qemu-io -f raw -c "write -P 0x44 10M 128k" -c "write -z 1M 64k" "$url/web/root" >/dev/null
stop_server
"$bin" snapshot create web b >/dev/null
B=$("$bin" --json snapshot list web | jq -r '.[1].full_name')
check "diff lists the changed ranges" 0 "2 ranges, 192.0 KiB changed \(from the block indexes" -- \
  "$bin" diff "web/root@$A" "@$B"
check "diff --json" 0 '"type": "zero"' -- "$bin" --json diff "web/root@$A" "web/root@$B"
check "diff against the disk now" 0 "2 ranges" -- "$bin" diff "web/root@$A"
check "diff needs a snapshot" 1 "is not a disk snapshot" -- "$bin" diff web/root
check "send refuses a live disk" 1 "is not a disk snapshot" -- sh -c "'$bin' send web/root > s"
check "send refuses a terminal" 1 "refusing to write a send stream to a terminal" -- \
  script -qec "'$bin' send web/root@$A" /dev/null
check "send a full stream" 0 "" -- sh -c "'$bin' send web/root@$A > full.s"
check "send an incremental stream" 0 "" -- sh -c "'$bin' send web/root@$B --from @$A > inc.s"
full_size=$(stat -c %s full.s) inc_size=$(stat -c %s inc.s)
check "the incremental stream holds the change ($inc_size bytes)" 0 "" -- test "$inc_size" -lt $((200 * 1024))
check "the full stream holds the data, not the disk ($full_size bytes)" 0 "" -- test "$full_size" -lt $((7 * mib))
check "receive the full stream" 0 "received full snapshot bk@a_" -- sh -c "'$bin' --pool '$tmp/backup' receive bk/root < full.s"
head -c $((inc_size - 9)) inc.s >cut.s
check "a truncated stream is refused (damage: exit 2)" 2 "ends early" -- sh -c "'$bin' --pool '$tmp/backup' receive bk/root < cut.s"
check "receive the incremental stream" 0 "received incremental snapshot bk@b_" -- \
  sh -c "'$bin' --pool '$tmp/backup' receive bk/root < inc.s"
check "a repeat is refused" 1 "was received before" -- sh -c "'$bin' --pool '$tmp/backup' receive bk/root < inc.s"
check "garbage is refused" 1 "not a vmstore send stream" -- sh -c "'$bin' --pool '$tmp/backup' receive bk/x < src.qcow2"
"$bin" --pool "$tmp/backup" export bk/root bk.raw >/dev/null
"$bin" export "web/root@$B" b.raw >/dev/null
check "the backup equals snapshot b" 0 "Images are identical" -- qemu-img compare -f raw -F raw bk.raw b.raw
check "the received snapshot remembers its origin" 0 "vmstore:received-from +web/root@$B" -- \
  "$bin" --pool "$tmp/backup" property list "bk/root@$("$bin" --pool "$tmp/backup" --json snapshot list bk | jq -r '.[1].full_name')"

# --- the same with a server on each pool: the client's streams go to it
start_server
qemu-io -f raw -c "write -P 0x55 20M 1M" "$url/web/root" >/dev/null
"$bin" snapshot create web c >/dev/null
C=$("$bin" --json snapshot list web | jq -r '.[2].full_name')
check "the admin NBD socket is 0600" 0 "^600 socket$" -- stat -c '%a %F' "$tmp/pool/nbd.sock"
check "served: diff" 0 "1 range, 1.0 MiB changed" -- "$bin" diff "web/root@$B" "@$C"
check "served: send | receive into the other pool" 0 "received incremental snapshot bk@c_" -- \
  sh -c "'$bin' send web/root@$C --from @$B | '$bin' --pool '$tmp/backup' receive bk/root"
check "served: import" 0 "imported .* into web/data" -- "$bin" import src.qcow2 web/data
check "served: export a snapshot to qcow2" 0 "exported web/root@$C" -- "$bin" export "web/root@$C" c.qcow2
check "served: the export equals the served snapshot" 0 "Images are identical" -- \
  qemu-img compare -F raw c.qcow2 "$url/web/root@$C"
check "served: receiving into an open disk is refused" 1 "open by an NBD client" -- sh -c \
  "qemu-io -f raw -c 'sleep 3000' '$url/web/root' & sleep 0.5; '$bin' --pool '$tmp/pool' receive web/root < inc.s; rc=\$?; wait; exit \$rc"
stop_server
"$bin" --pool "$tmp/backup" export bk/root bk2.raw >/dev/null
check "the backup equals snapshot c" 0 "Images are identical" -- qemu-img compare -f raw -F qcow2 bk2.raw c.qcow2
# Growth per snapshot, from the indexes: a holds 6 MiB, b wrote 192 KiB, c 1 MiB; now: the
# imported web/data (6 MiB) and nothing on web/root since c.
check "snapshot list --growth" 0 "^c_[0-9T:]+ +[-0-9T:Z]+ +1.0 MiB" -- "$bin" snapshot list web --growth
check "growth as JSON" 0 "^6291456 196608 1048576 6291456$" -- sh -c \
  "'$bin' --json snapshot list web --growth | jq -r '[.[].written] | map(tostring) | join(\" \")'"
check "--growth with --tree is refused" 1 "drop --tree" -- "$bin" snapshot list web --growth --tree
check "fsck is clean on both pools" 0 "clean" -- sh -c "'$bin' fsck && '$bin' --pool '$tmp/backup' fsck"

echo "transfer_test: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
