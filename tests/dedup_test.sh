#!/usr/bin/env bash
# Deduplication end to end: `sr create/set --dedup`, identical images imported
# with qemu-img into two VMs' disks are stored once (sr show), overwriting,
# trimming and deleting one copy leaves the other intact, the figures survive
# a restart and a SIGKILL, bad modes and non-native SRs are refused, and fsck
# stays clean. Usage: dedup_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: dedup_test.sh VMSTORE_BINARY}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools qemu-img qemu-io jq
use_tmp

export VMSTORE_POOL=$tmp/pool
mib=$((1 << 20))
"$bin" init --cluster-size 4K >/dev/null
check "a bad mode is refused" 1 "'maybe' is not one of off, on, verify" -- "$bin" sr set default --dedup maybe
check "dedup is for native SRs" 1 "--dedup is for native SRs" -- \
  "$bin" sr create files --type reflink --path "$tmp/files" --dedup on
check "sr set --dedup on" 0 "SR default: dedup on" -- "$bin" sr set default --dedup on
check "sr create --dedup verify" 0 "created SR second" -- "$bin" sr create second --dedup verify
check "sr show says so" 0 "^dedup +verify" -- "$bin" sr show second
for vm in a b c; do "$bin" vm create $vm >/dev/null; done
for vm in a b; do "$bin" disk create $vm d --size 64M >/dev/null; done
"$bin" disk create c d --size 64M --sr second >/dev/null

# An image: 24 MiB of random data (a little of it repeated), 8 MiB of zeroes.
head -c $((24 * mib)) /dev/urandom >"$tmp/img"
head -c $((4 * mib)) "$tmp/img" >>"$tmp/img"
truncate -s $((36 * mib)) "$tmp/img"
start_server
for vm in a b c; do
  check "import into $vm" 0 "" -- qemu-img convert -n -f raw -O raw "$tmp/img" "$url/$vm/d"
done
space() { "$bin" --json sr show "$1" | jq -r ".space.$2"; }
check "stored once in default: 24 MiB of data" 0 "^$((24 * mib))$" -- space default data_bytes
check "logical is both copies: 56 MiB" 0 "^$((56 * mib))$" -- space default logical_bytes
check "ratio 2.33" 0 "^2\.33" -- space default dedup_ratio
check "the index is in memory" 0 "^[1-9]" -- space default index_memory_bytes
check "stored once in second (verify)" 0 "^$((24 * mib))$" -- space second data_bytes
check "verify found no mismatch" 0 "^0$" -- space second verify_mismatches
check "both copies read back" 0 "Images are identical" -- qemu-img compare -f raw -F raw "$tmp/img" "$url/a/d"
check "b too" 0 "Images are identical" -- qemu-img compare -f raw -F raw "$tmp/img" "$url/b/d"

# Overwrite, trim, delete one copy: the other stays as it was.
check "overwrite 1 MiB of a" 0 "wrote 1048576/1048576" -- qemu-io -f raw -c "write -P 0x5a 3M 1M" "$url/a/d"
check "trim 2 MiB of a" 0 "discard 2097152/2097152" -- qemu-io -f raw -c "discard 8M 2M" "$url/a/d"
check "b unchanged" 0 "Images are identical" -- qemu-img compare -f raw -F raw "$tmp/img" "$url/b/d"
check "a changed where written" 0 "read 1048576/1048576" -- qemu-io -r -f raw -c "read -P 0x5a 3M 1M" "$url/a/d"
check "and trimmed" 0 "read 2097152/2097152" -- qemu-io -r -f raw -c "read -P 0 8M 2M" "$url/a/d"
check "snapshot of b" 0 "created snapshot" -- "$bin" snapshot create b s
check "a clone of it" 0 "" -- "$bin" vm clone "b@$("$bin" snapshot list b | awk 'NR > 1 {print $1}')" e
stop_server >/dev/null
# a's 1 MiB of 0x5a is 256 equal clusters: one block.
check "restart: data is 24 MiB + one cluster" 0 "^$((24 * mib + 4096))$" -- space default data_bytes
start_server
check "delete VM a" 0 "removed a$" -- "$bin" vm delete a
check "b intact after a is gone" 0 "Images are identical" -- qemu-img compare -f raw -F raw "$tmp/img" "$url/b/d"
check "24 MiB again" 0 "^$((24 * mib))$" -- space default data_bytes
"$bin" vm create f >/dev/null
"$bin" disk create f d --size 64M >/dev/null
# After the restart memory holds only the hooks: a run is found from its
# first hook on (about 32 clusters in), so a few clusters are stored again.
check "import into f, then SIGKILL" 0 "" -- qemu-img convert -n -f raw -O raw "$tmp/img" "$url/f/d"
kill -9 "$server"
wait "$server" 2>/dev/null
server=
start_server
data=$(space default data_bytes)
echo "after importing the image a fourth time, a restart and a crash: $data bytes of data"
check "f is mostly shared (less than 26 MiB stored)" 0 "" -- test "$data" -lt $((26 * mib))
check "f reads back" 0 "Images are identical" -- qemu-img compare -f raw -F raw "$tmp/img" "$url/f/d"
check "sr set --dedup off drops the index" 0 "SR default: dedup off" -- "$bin" sr set default --dedup off
check "no index file left" 1 "" -- test -e "$tmp/pool/dedup.idx"
check "shared data stays shared" 0 "^$data$" -- space default data_bytes
check "writes go on with dedup off" 0 "wrote 1048576/1048576" -- qemu-io -f raw -c "write -P 0x77 0 1M" "$url/b/d"
stop_server >/dev/null
check "fsck clean" 0 "clean" -- "$bin" fsck
echo "dedup_test: $pass passed, $fail failed"
((fail == 0))
