#!/usr/bin/env bash
# Black-box tests of the vmstore CLI: init, demo, status, fsck, scrub, the object
# commands (sr, vm, disk, snapshot, catalog), --json, exit codes and error
# messages. Usage: cli_test.sh PATH_TO_VMSTORE (needs jq)
# With VMSTORE_TEST_STORE=cluster the object commands run against a cluster
# (etcd and three storage nodes; lib.sh's init_store) with the same output;
# the sections about a pool directory's own files are the pool run's.
set -u
bin=${1:?usage: cli_test.sh VMSTORE_BINARY}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
use_tmp
if [[ ${VMSTORE_TEST_STORE:-pool} == cluster ]]; then
  init_store
  v="$bin"
  sr_type=cluster
else

  p=$tmp/pool
  check "init creates a pool" 0 "created pool" -- "$bin" --pool "$p" init --cluster-size 16K
  check "init twice is a user error" 1 "already exists" -- "$bin" --pool "$p" init
  check "bad cluster size" 1 "power of two" -- "$bin" --pool "$tmp/p2" init --cluster-size 3000
  check "bad size suffix" 1 "unknown suffix" -- "$bin" --pool "$tmp/p3" init --cluster-size 64Q
  check "no pool given" 1 "pass --pool DIR, set VMSTORE_POOL or .pool. in the config file" -- env -u VMSTORE_POOL "$bin" status
  check "missing pool" 1 "no pool in .*vmstore --pool .* init" -- "$bin" --pool "$tmp/none" status
  check "demo writes and snapshots" 0 "snapshot @4096: OPQRST" -- "$bin" --pool "$p" demo --size 64M
  check "demo snapshot has space" 0 "snapshot demo_snapshot_[0-9T:]+: referenced 4.0 MiB, exclusive" -- "$bin" --pool "$p" demo --size 64M
  check "demo --json" 0 "^4194304$" -- bash -c "$bin --json --pool $p demo --size 64M | jq .snapshot.referenced"
  check "status lists the SR" 0 "default +native +6" -- "$bin" --pool "$p" status
  check "VMSTORE_POOL works" 0 "3 VMs \\(0 marked deleted\\), 3 disks, 3 snapshots" -- env VMSTORE_POOL="$p" "$bin" status
  check "fsck clean" 0 "^clean" -- "$bin" --pool "$p" fsck
  check "scrub clean" 0 "^clean" -- "$bin" --pool "$p" scrub
  # Disk data is its owner's alone, whatever the umask (issue: the pool was
  # 0755 and its containers, logs and catalog 0644 under umask 022).
  check "the pool is private under umask 022: nothing in it open to others" 0 "^0$" -- bash -c "
    umask 022; '$bin' --pool '$tmp/private' init >/dev/null && '$bin' --pool '$tmp/private' demo --size 16M >/dev/null &&
    find '$tmp/private' -perm /077 | tee /dev/stderr | wc -l"
  check "fsck warns about a pool open to others (exit still the check's)" 0 \
    "WARNING: .*/private \(mode 755\) is open to other users" -- \
    bash -c "chmod 755 '$tmp/private' && '$bin' --pool '$tmp/private' fsck"
  check "help has an example" 0 "example: vmstore --pool" -- "$bin" fsck --help
  for cmd in "init" "status" "fsck" "scrub" "demo" "sr create" "sr list" "sr show" "sr delete" "vm create" "vm list" \
    "vm show" "vm delete" "vm clone" "disk create" "disk list" "disk resize" "disk delete" "snapshot create" \
    "snapshot list" "snapshot find" "snapshot rollback" "snapshot delete" "catalog export" "catalog import"; do
    # shellcheck disable=SC2086
    check "--help of '$cmd' has an example" 0 "example: vmstore" -- "$bin" $cmd --help
  done
  v="$bin --pool $tmp/obj"
  $v init >/dev/null
  sr_type=native
fi

# The object commands.
check "vm create" 0 "created VM web" -- $v vm create web
check "duplicate VM" 1 "VM 'web' already exists" -- $v vm create web
check "bad VM name" 1 "invalid VM name 'a/b'" -- $v vm create a/b
check "disk create" 0 "created disk web/root \\(1.0 GiB\\) in SR default" -- $v disk create web root --size 1G
check "disk size not a multiple of 512" 1 "not a positive multiple of 512" -- $v disk create web x --size 1000
check "disk in unknown VM" 1 "VM 'nope' does not exist" -- $v disk create nope x --size 1M
check "disk in unknown SR" 1 "SR 'fast' does not exist" -- $v disk create web x --size 1M --sr fast
check "sr create" 0 "created SR fast \\($sr_type\\)" -- $v sr create fast --type $sr_type
check "disk in a second SR" 0 "in SR fast" -- $v disk create web data --size 64M --sr fast
check "bad snapshot name" 1 "use 1-64 letters, digits or underscores" -- $v snapshot create web snap-1
out=$($v snapshot create web snapshot_1)
check "snapshot create prints the full name" 0 "web@snapshot_1_[0-9]{8}T[0-9]{2}:[0-9]{2}:[0-9]{2} \\(2 disks\\)" -- echo "$out"
full=$($v --json snapshot list web | jq -r '.[0].full_name')
check "snapshot list" 0 "^$full " -- $v snapshot list web
check "snapshot find by name" 0 "^$full " -- $v snapshot find web "$full"
check "snapshot find by time" 0 "^$full " -- $v snapshot find web --at 2999-01-01T00:00:00Z
check "snapshot find before any" 1 "has no snapshot at or before 2000-01-01T00:00:00Z" -- $v snapshot find web --at 2000-01-01T00:00:00Z
check "snapshot find by prefix" 0 "^$full " -- $v snapshot find web --prefix snapshot_
check "snapshot find bad time" 1 "is not YYYY-MM-DDTHH:MM:SS" -- $v snapshot find web --at yesterday
check "vm clone" 0 "cloned VM web2 from web@$full \\(2 disks\\)" -- $v vm clone "web@$full" web2
check "tree" 0 "web2 \\(clone\\)" -- $v snapshot list web --tree
check "rollback" 0 "rolled back to web@$full" -- $v snapshot rollback "web@$full"
check "rollback across VMs" 1 "belongs to VM 'web'" -- $v snapshot rollback "web2@$full"
check "resize grows" 0 "resized web/root to 2.0 GiB" -- $v disk resize web/root 2G
check "json is valid everywhere" 0 "^ok$" -- bash -c "$v --json vm list | jq -e 'length == 2' >/dev/null && $v --json disk list | jq -e 'length == 4' >/dev/null && $v --json sr list | jq -e '.[0].name' >/dev/null && $v --json snapshot list web --tree | jq -e '.children[0].children[0].name == \"web2\"' >/dev/null && echo ok"
check "vm delete deferred" 0 "deferred web: marked deleted.*kept by: web2" -- $v vm delete web
check "deleted VM hidden" 1 "VM 'web' does not exist" -- $v vm show web
check "deleted VM listed with --all" 0 "web +0 +1 +deleted" -- $v vm list --all
check "deleted snapshot not cloneable" 1 "is deleted \\(kept only while its clones exist\\)" -- $v vm clone "$($v --json vm list --all | jq -r '.[] | select(.is_deleted) | .uuid')@$full" web3
check "recursive dry run lists" 0 "would remove web2" -- $v vm delete web2 --recursive --dry-run
check "last clone goes, cascade" 0 "removed web@$full" -- $v vm delete web2
check "all gone" 0 "^NAME" -- $v vm list --all
check "sr delete" 0 "deleted SR fast" -- $v sr delete fast
check "fsck after all that" 0 "^clean" -- $v fsck

# Catalog export and import into a pool that lost its catalog.
$v vm create keep >/dev/null && $v disk create keep d --size 1M >/dev/null && $v snapshot create keep k >/dev/null
check "catalog export" 0 "wrote" -- $v catalog export -o "$tmp/map.json"
check "export has mapping records" 0 "^1$" -- jq '.mappings.vm_vbd_vdi | length' "$tmp/map.json"
if [[ $sr_type == cluster ]]; then
  # A cluster's catalog lives in etcd; rebuilding a lost one from an export
  # is a pool directory's (its catalog file).
  check "catalog import is a pool directory's" 1 "works on a pool directory" -- $v catalog import "$tmp/map.json"
  echo "$pass passed, $fail failed"
  [[ $fail -eq 0 ]]
  exit
fi
check "import refuses a non-empty catalog" 1 "not empty" -- $v catalog import "$tmp/map.json"
rm -f "$tmp"/obj/catalog.db*
check "import into the emptied pool" 0 "imported" -- $v catalog import "$tmp/map.json"
check "imported objects are back" 0 "keep +1 +1 +active" -- $v vm list
check "fsck after import" 0 "^clean" -- $v fsck

# Damage a data unit: scrub and fsck report it and exit 2.
ctr=$(ls "$p"/containers/*.ctr | head -1)
off=$(( 4096 + 16384 * 8 + 4096 * 3 ))  # header, sums (default 64M container), some data unit
size=$(stat -c %s "$ctr")
if (( size > off )); then
  printf '\xff\xfe\xfd' | dd of="$ctr" bs=1 seek=$((off + 100)) conv=notrunc status=none
  check "scrub reports damage" 2 "checksum mismatch" -- "$bin" --pool "$p" scrub
  check "fsck reports damage" 2 "problem\\(s\\) found" -- "$bin" --pool "$p" fsck
else
  fail=$((fail + 1)); echo "FAIL: container smaller than expected ($size)"
fi

# Hostile names never reach a path or a command line: each is refused with a
# clear message, nothing is created, no shell runs.
h="$bin --pool $tmp/hostile"
$h init >/dev/null
long=$(printf 'a%.0s' $(seq 65))
for name in "a/b" ".." "../etc" ".hidden" "\$(touch $tmp/pwned)" "\`touch $tmp/pwned\`" "a;touch $tmp/pwned" \
  "a b" "$long" "" "a|b" "a*"; do
  check "hostile VM name '${name:0:20}' refused" 1 "invalid VM name" -- $h vm create "$name"
  check "hostile SR name '${name:0:20}' refused" 1 "invalid SR name" -- $h sr create "$name" --type reflink --path "$tmp/srx"
done
$h vm create hv >/dev/null
for name in "x/y" ".." "\$(touch $tmp/pwned)" "$long"; do
  check "hostile disk name '${name:0:20}' refused" 1 "invalid disk name" -- $h disk create hv "$name" --size 1M
done
for name in "x/y" ".." "\$(touch $tmp/pwned)" "a-b" "a.b" "$long"; do
  check "hostile snapshot name '${name:0:20}' refused" 1 "invalid snapshot name" -- $h snapshot create hv "$name"
done
check "a control character in a name is refused" 1 "invalid VM name" -- $h vm create "$(printf 'a\tb')"
check "a snapshot reference with a path only looks a name up" 1 "has no snapshot" -- $h snapshot delete "hv@../x_20260101T00:00:00"
check "a zfs dataset name with shell metacharacters is refused" 1 "is not a ZFS dataset name" -- \
  $h sr create z9 --type zfs --dataset "pool/x;touch $tmp/pwned"
# Regression (issue 24, item 9): a dataset named like an option reached the zfs command as one.
check "a zfs dataset name starting with '-' is refused" 1 "is not a ZFS dataset name .*beginning with a letter or digit" -- \
  $h sr create z8 --type zfs --dataset=-V
check "a zfs dataset component starting with '-' is refused" 1 "is not a ZFS dataset name" -- \
  $h sr create z8 --type zfs --dataset tank/-x
check "nothing was created by the hostile names" 0 "^1 VMs .* 0 disks" -- $h status
if [[ -e $tmp/pwned || -e $tmp/srx ]]; then
  fail=$((fail + 1)); echo "FAIL: a hostile name ran a command or made a path ($(ls -d "$tmp"/pwned "$tmp"/srx 2>/dev/null))"
else
  pass=$((pass + 1))
fi

# A pool in use by another process is refused.
p4=$tmp/p4
"$bin" --pool "$p4" init >/dev/null
exec 9>"$p4/catalog.lock"
flock -n 9
check "locked pool refused" 1 "in use by another vmstore process" -- "$bin" --pool "$p4" status
exec 9>&-

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
