#!/usr/bin/env bash
# Black-box tests of `vmstore serve` with the real NBD clients from Debian's
# packages: qemu-img, qemu-io, nbdinfo, nbdcopy, fio. Usage: nbd_test.sh PATH_TO_VMSTORE
# With VMSTORE_TEST_STORE=cluster the same clients run against a cluster
# gateway (etcd and three storage nodes; lib.sh's init_store).
# A missing client fails the test under CI=true and skips it (loudly) outside CI.
set -u
bin=${1:?usage: nbd_test.sh VMSTORE_BINARY}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools qemu-img qemu-io nbdinfo nbdcopy fio openssl
use_tmp

init_store
"$bin" vm create web >/dev/null
"$bin" disk create web root --size 256M >/dev/null
"$bin" disk create web data --size 64M >/dev/null

start_server
check "server prints its address" 0 "nbd://127.0.0.1:[0-9]+/" -- cat "$tmp/serve.log"
check "nbdinfo --list shows disks" 0 'export="web/data"' -- nbdinfo --list "$url"
check "unknown export is refused with a message" 1 "unknown export 'web/nope'" -- qemu-img info "$url/web/nope"
check "export has base:allocation" 0 "base:allocation" -- nbdinfo "$url/web/root"

# qemu-img convert a qcow2 image into the disk and compare it back.
qemu-img create -f qcow2 "$tmp/src.qcow2" 256M >/dev/null
qemu-io -f qcow2 -c "write -P 0xab 0 4M" -c "write -P 0xcd 100M 1M" -c "write -P 0xef 255M 1M" "$tmp/src.qcow2" >/dev/null
check "qemu-img convert into the disk" 0 "" -- qemu-img convert -n -f qcow2 -O raw "$tmp/src.qcow2" "$url/web/root"
check "qemu-img compare" 0 "Images are identical" -- qemu-img compare -f qcow2 -F raw "$tmp/src.qcow2" "$url/web/root"
check "allocation map after convert" 0 "^ +4194304 +100663296 +3 +hole,zero" -- nbdinfo --map "$url/web/root"

# qemu-io: FUA writes, flush, discard, write-zeroes, pattern reads.
check "qemu-io FUA write + flush" 0 "wrote 65536/65536" -- qemu-io -f raw -c "write -f -P 0x11 8M 64k" -c "flush" "$url/web/root"
check "qemu-io pattern read" 0 "read 65536/65536" -- qemu-io -f raw -c "read -P 0x11 8M 64k" "$url/web/root"
check "qemu-io discard" 0 "discard 1048576/1048576" -- qemu-io -f raw -c "discard 100M 1M" "$url/web/root"
covering() {  # the map's type of the extent holding byte $1
  nbdinfo --map "$url/web/root" | awk -v o="$1" '$1 <= o && o < $1 + $2 {print $4; exit}'
}
check "hole after trim" 0 "^hole,zero$" -- covering 104857600
check "qemu-io write-zeroes" 0 "wrote 65536/65536" -- qemu-io -f raw -c "write -z 0 64k" -c "read -P 0 0 64k" "$url/web/root"
check "unaligned write and read" 0 "read 1000/1000" -- qemu-io -f raw -c "write -P 0x5a 12345 1000" -c "read -P 0x5a 12345 1000" "$url/web/root"
check "read past the end fails" 1 "Input/output error|Invalid argument" -- qemu-io -f raw -c "read 255M 2M" "$url/web/root"

# fio's nbd engine: random writes verified by crc32c, queue depth 16, two connections.
check "fio nbd verify, iodepth 16, 2 connections" 0 "err= 0" -- fio --name=verify --ioengine=nbd \
  --uri="$url/web/data" --rw=randwrite --bs=4k --iodepth=16 --numjobs=2 --size=32M --offset_increment=32M \
  --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 --group_reporting

# While the server runs, commands go through it (its management socket).
check "commands go through the server" 0 "^web +2 +0 +active" -- "$bin" vm list
check "online fsck through the server" 0 "online check .*clean|^clean" -- "$bin" fsck
check "a second server is refused" 1 "in use by another vmstore process" -- "$bin" serve --listen 127.0.0.1:0
qemu-io -f raw -c "sleep 3000" "$url/web/data" >/dev/null 2>&1 &
holder=$!
sleep 0.5
check "a disk open by a client cannot be deleted" 1 "export web/data is open by an NBD client \\(use --force" -- "$bin" disk delete web/data
check "a snapshot is taken while clients are connected" 0 "created snapshot web@s1_" -- "$bin" snapshot create web s1
wait "$holder"
stop_server
check "SIGTERM stops cleanly" 0 "stopped on signal 15" -- cat "$tmp/serve.log"
full=$("$bin" --json snapshot list web | jq -r '.[0].full_name')
start_server
check "snapshot export listed" 0 "export=\"web/root@$full\"" -- nbdinfo --list "$url"
check "snapshot export is read-only" 0 "is_read_only: true" -- nbdinfo "$url/web/root@$full"
check "a snapshot export cannot be opened for writing" 1 "Permission denied|read-only" -- qemu-io -f raw -c "write 0 4k" "$url/web/root@$full"
qemu-io -f raw -c "write -P 0x77 0 1M" "$url/web/root" >/dev/null
check "snapshot keeps the old data" 0 "read 983040/983040" -- qemu-io -f raw -r -c "read -P 0x5a 12345 1000" -c "read -P 0xab 64k 960k" "$url/web/root@$full"
check "nbdcopy the snapshot out" 0 "" -- nbdcopy "$url/web/root@$full" "$tmp/snap.raw"
# The same history applied to a plain file gives the same bytes.
qemu-img convert -f qcow2 -O raw "$tmp/src.qcow2" "$tmp/expect.raw"
qemu-io -f raw -c "write -P 0x11 8M 64k" -c "write -z 100M 1M" -c "write -z 0 64k" -c "write -P 0x5a 12345 1000" \
  "$tmp/expect.raw" >/dev/null
check "copied snapshot equals the same history on a file" 0 "^ok$" -- bash -c "cmp '$tmp/expect.raw' '$tmp/snap.raw' && echo ok"
check "unix socket" 0 "export-size: 67108864" -- nbdinfo "nbd+unix:///web/data?socket=$tmp/nbd.sock"
stop_server
check "a bad --allow is refused" 1 "is not CLIENT=GLOB" -- "$bin" serve --listen 127.0.0.1:0 --allow nonsense
start_server --allow 127.0.0.1=web/data
check "allow list: listed exports" 0 '^export="web/data"' -- nbdinfo --list "$url"
check "allow list: other exports refused" 1 "not allowed for client 127.0.0.1" -- qemu-img info "$url/web/root"
stop_server

# TLS: an x509 CA and server certificate for 127.0.0.1, and a PSK file, laid
# out as qemu's tls-creds-x509 / tls-creds-psk (endpoint=client) read them.
mkdir -p "$tmp/x509" "$tmp/psk" "$tmp/badpsk"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca-key.pem" -out "$tmp/x509/ca-cert.pem" -days 2 \
  -subj "/CN=vmstore test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$tmp/server-key.pem" -out "$tmp/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
printf "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" >"$tmp/ext.cnf"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/x509/ca-cert.pem" -CAkey "$tmp/ca-key.pem" -CAcreateserial \
  -out "$tmp/server-cert.pem" -days 2 -extfile "$tmp/ext.cnf" 2>/dev/null
echo "alice:$(openssl rand -hex 32)" >"$tmp/psk/keys.psk"
echo "alice:$(openssl rand -hex 32)" >"$tmp/badpsk/keys.psk"
x509="--object tls-creds-x509,id=t0,dir=$tmp/x509,endpoint=client"
psk="--object tls-creds-psk,id=t0,dir=$tmp/psk,username=alice,endpoint=client"
badpsk="--object tls-creds-psk,id=t0,dir=$tmp/badpsk,username=alice,endpoint=client"
opts() { echo "driver=nbd,host=127.0.0.1,port=$port,export=$1,tls-creds=t0"; }
check "--tls-cert needs --tls-key" 1 "--tls-cert and --tls-key go together" -- \
  "$bin" serve --listen 127.0.0.1:0 --tls-cert "$tmp/server-cert.pem"
check "--tls=require needs credentials" 1 "needs --tls-cert/--tls-key or --tls-psk" -- \
  "$bin" serve --listen 127.0.0.1:0 --tls=require
echo "alice=nothex" >"$tmp/broken.psk"
check "a malformed PSK file is refused" 1 "line 1 is not USERNAME:HEXKEY" -- \
  "$bin" serve --listen 127.0.0.1:0 --tls-psk "$tmp/broken.psk"
start_server --tls=require --tls-cert "$tmp/server-cert.pem" --tls-key "$tmp/server-key.pem" --tls-psk "$tmp/psk/keys.psk"
check "TLS server says so" 0 "TLS \(x509\+psk\) required" -- cat "$tmp/serve.log"
check "plaintext is refused under --tls=require" 1 "TLS negotiation required|requires TLS" -- qemu-img info "$url/web/data"
check "plaintext listing is refused" 1 "." -- nbdinfo --list "$url"
qemu-img create -f qcow2 "$tmp/small.qcow2" 64M >/dev/null
qemu-io -f qcow2 -c "write -P 0x3c 1M 3M" "$tmp/small.qcow2" >/dev/null
# shellcheck disable=SC2086
check "qemu-img convert over x509 TLS" 0 "" -- \
  qemu-img convert -n -f qcow2 $x509 --target-image-opts "$tmp/small.qcow2" "$(opts web/data)"
# shellcheck disable=SC2086
check "qemu-img compare over PSK TLS" 0 "Images are identical" -- \
  qemu-img compare $psk --image-opts "driver=qcow2,file.filename=$tmp/small.qcow2" "$(opts web/data)"
# shellcheck disable=SC2086
check "a wrong pre-shared key fails the handshake" 1 "TLS handshake failed" -- \
  qemu-img info $badpsk --image-opts "$(opts web/data)"
check "nbdinfo over PSK TLS" 0 "newstyle-fixed with TLS" -- \
  nbdinfo "nbds://alice@127.0.0.1:$port/web/data?tls-psk-file=$tmp/psk/keys.psk"
check "nbdcopy over x509 TLS" 0 "" -- \
  nbdcopy "nbds://127.0.0.1:$port/web/data?tls-certificates=$tmp/x509" "$tmp/tls.raw"
check "what went over TLS arrived" 0 "^ok$" -- bash -c "qemu-img compare -f raw -F qcow2 '$tmp/tls.raw' '$tmp/small.qcow2' >/dev/null && echo ok"
stop_server
start_server --tls-psk "$tmp/psk/keys.psk"
check "--tls=on (the default with credentials) also serves plaintext" 0 "export-size: 67108864" -- nbdinfo "$url/web/data"
check "--tls=on serves TLS" 0 "newstyle-fixed with TLS" -- \
  nbdinfo "nbds://alice@127.0.0.1:$port/web/data?tls-psk-file=$tmp/psk/keys.psk"
stop_server

if [[ $store_kind == cluster ]]; then
  # A cluster's SRs are all of type cluster (their data on the nodes); the
  # file-backed types are a pool directory's.
  check "a file-backed SR is refused in a cluster" 1 "the SRs of a cluster are of type cluster" -- \
    "$bin" sr create local --type reflink --path "$tmp/r"
  check "fsck without a gateway checks the cluster's pools" 0 "^clean$" -- "$bin" fsck
  check "and their copies on the nodes" 0 "^clean$" -- "$bin" cluster fsck
else
  # File-backed SR types, on real file systems: reflink on XFS (reflink=1) and
  # on btrfs, btrfs subvolumes (each on a loop device), and zfs on a zfs-fuse
  # pool in a file. The same exports, served from the image files.
  loops=()
  zpool_name=""
  cleanup_fs() {
    # zfs-fuse calls a pool busy for a while after its files are closed.
    if [[ -n $zpool_name ]]; then
      for _ in $(seq 100); do zpool destroy -f "$zpool_name" 2>/dev/null && break; sleep 0.1; done
    fi
    for m in "${loops[@]}"; do umount "$m" 2>/dev/null; done
  }
  trap 'cleanup_fs; cleanup_tmp' EXIT
  missing_fs() {
    if [[ ${CI:-} == true ]]; then
      fail=$((fail + 1))
      echo "FAIL: $1"
    else
      echo "SKIP: $1 (this fails under CI=true)"
    fi
  }
  vms=()  # one VM per SR, named after it
  for fs in xfs btrfs; do
    mkfs=(mkfs.xfs -q -f -m reflink=1)
    [[ $fs == btrfs ]] && mkfs=(mkfs.btrfs -q -f)
    truncate -s 512M "$tmp/$fs.img"
    mkdir -p "$tmp/$fs"
    if ! "${mkfs[@]}" "$tmp/$fs.img" >/dev/null 2>&1 || ! mount -o loop "$tmp/$fs.img" "$tmp/$fs"; then
      missing_fs "cannot make and mount $fs on a loop device"
      continue
    fi
    loops+=("$tmp/$fs")
    check "reflink SR on $fs" 0 "created SR r$fs \\(reflink\\)" -- "$bin" sr create "r$fs" --type reflink --path "$tmp/$fs/sr"
    vms+=("r$fs")
  done
  if [[ -d $tmp/btrfs/sr ]]; then
    check "btrfs SR" 0 "created SR bbtrfs \\(btrfs\\)" -- "$bin" sr create bbtrfs --type btrfs --path "$tmp/btrfs/bsr"
    vms+=(bbtrfs)
    check "sr show lists what an SR type can do" 0 "can       clone rollback_keeping_newer trim" -- "$bin" sr show bbtrfs
  fi
  if [[ -d $tmp/xfs/sr ]]; then
    check "a btrfs SR elsewhere than on btrfs is refused" 1 "is on xfs, not btrfs" -- \
      "$bin" sr create bxfs --type btrfs --path "$tmp/xfs/bsr"
  fi
  zpool list >/dev/null 2>&1 || { zfs-fuse --no-kstat-mount >/dev/null 2>&1; for _ in $(seq 50); do zpool list >/dev/null 2>&1 && break; sleep 0.1; done; }
  zpool_name="vmsnbd$$"
  truncate -s 512M "$tmp/zpool.img"
  if zpool create -m "$tmp/zfs" "$zpool_name" "$tmp/zpool.img" >/dev/null 2>&1 && zfs create "$zpool_name/sr"; then
    check "zfs SR on a zfs-fuse pool" 0 "created SR zfs1 \\(zfs\\)" -- "$bin" sr create zfs1 --type zfs --dataset "$zpool_name/sr"
    vms+=(zfs1)
    check "sr show: zfs cannot roll back past newer snapshots" 0 "cannot    .*rollback_keeping_newer" -- "$bin" sr show zfs1
    check "a zfs SR needs --dataset" 1 "a zfs SR needs --dataset" -- "$bin" sr create z2 --type zfs
    check "a zfs SR on a dataset that does not exist is refused" 1 "ZFS dataset '$zpool_name/nope' does not exist" -- \
      "$bin" sr create z2 --type zfs --dataset "$zpool_name/nope"
    check "a zfs SR on a dataset that holds one already is refused" 1 "already holds a zfs SR" -- \
      "$bin" sr create z2 --type zfs --dataset "$zpool_name/sr"
  else
    zpool_name=""
    missing_fs "cannot make a zfs-fuse pool (zfs-fuse daemon, /dev/fuse)"
  fi
  for sr in "${vms[@]}"; do
    "$bin" vm create "v$sr" >/dev/null
    "$bin" disk create "v$sr" root --size 64M --sr "$sr" >/dev/null
  done
  check "a reflink SR on a file system without reflinks is refused" 1 "is on .*, which cannot share extents" -- \
    "$bin" sr create rext4 --type reflink --path "$tmp/noreflink"
  start_server
  for sr in "${vms[@]}"; do
    v=v$sr
    check "qemu-img convert into a disk on SR $sr" 0 "" -- qemu-img convert -n -f qcow2 -O raw "$tmp/small.qcow2" "$url/$v/root"
    check "qemu-img compare out of SR $sr" 0 "Images are identical" -- qemu-img compare -f qcow2 -F raw "$tmp/small.qcow2" "$url/$v/root"
    check "snapshot on SR $sr" 0 "created snapshot $v@s_" -- "$bin" snapshot create "$v" s
    qemu-io -f raw -c "write -P 0x99 1M 1M" "$url/$v/root" >/dev/null
    sfull=$("$bin" --json snapshot list "$v" | jq -r '.[0].full_name')
    check "the snapshot export on SR $sr keeps the old data" 0 "Images are identical" -- \
      qemu-img compare -f qcow2 -F raw "$tmp/small.qcow2" "$url/$v/root@$sfull"
    check "nbdcopy reads the snapshot on SR $sr" 0 "^ok$" -- bash -c \
      "nbdcopy '$url/$v/root@$sfull' '$tmp/$sr.raw' && qemu-img compare -f raw -F qcow2 '$tmp/$sr.raw' '$tmp/small.qcow2' >/dev/null && echo ok"
    if [[ $sr != zfs1 ]]; then
      check "the allocation map on SR $sr" 0 "hole" -- nbdinfo --map "$url/$v/root@$sfull"
    fi
    check "a clone on SR $sr" 0 "cloned" -- "$bin" vm clone "$v@$sfull" "c$sr"
    check "the clone on SR $sr has the snapshot's data" 0 "Images are identical" -- \
      qemu-img compare -f qcow2 -F raw "$tmp/small.qcow2" "$url/c$sr/root"
  done
  if [[ -n $zpool_name ]]; then
    "$bin" snapshot create vzfs1 later >/dev/null
    check "zfs: a rollback past a newer snapshot is refused, naming it" 1 \
      "cannot roll back past newer snapshots without destroying them; newer: vzfs1@later_" -- \
      "$bin" snapshot rollback "vzfs1@$sfull" --force
    check "zfs: the refused rollback changed nothing" 0 "^read 1048576/1048576 bytes" -- bash -c \
      "out=\$(qemu-io -f raw -c 'read -P 0x99 1M 1M' '$url/vzfs1/root' 2>&1); grep -q 'verification failed' <<<\"\$out\" || echo \"\$out\""
    "$bin" snapshot delete "vzfs1@$("$bin" --json snapshot list vzfs1 | jq -r '.[] | select(.name=="later") | .full_name')" >/dev/null
    check "zfs: with the newer snapshot gone the rollback works" 0 "rolled back" -- \
      "$bin" snapshot rollback "vzfs1@$sfull" --force
    check "zfs: the disk has the snapshot's data again" 0 "Images are identical" -- \
      qemu-img compare -f qcow2 -F raw "$tmp/small.qcow2" "$url/vzfs1/root"
    check "zfs: deleting the snapshot its clone needs is deferred" 0 "kept by: czfs1" -- \
      "$bin" snapshot delete "vzfs1@$sfull"
  fi
  stop_server
  # Offline fsck runs each SR's own check, file-backed SRs included.
  if [[ ${#vms[@]} -gt 0 ]]; then
    check "offline fsck with file-backed SRs" 0 "^clean$" -- "$bin" fsck
  fi
  if [[ -d $tmp/xfs/sr ]]; then
    snapfile=$(ls "$tmp"/xfs/sr/s*.img | head -1)
    chmod 644 "$snapfile"
    check "fsck finds a writable snapshot file" 2 "is a snapshot but writable \\(mode 644\\)" -- "$bin" fsck
    chmod 444 "$snapfile"
  fi
  if [[ -d $tmp/btrfs/bsr ]]; then
    snapvol=$(ls -d "$tmp"/btrfs/bsr/s* | head -1)
    btrfs property set -ts "$snapvol" ro false
    check "fsck finds a writable btrfs snapshot" 2 "is a snapshot but writable" -- "$bin" fsck
    btrfs property set -ts "$snapvol" ro true
  fi
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
