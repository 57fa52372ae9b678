#!/usr/bin/env bash
# The VMStore article's snapshot experiment on the cluster, beside Ceph RBD,
# in one run on this machine (everything on loopback): the latency of a 2 MiB
# read after each of many successive snapshots, and through clones of clones.
#   vmstore  a real etcd, 3 storage nodes (R = 2) and a gateway (NBD)
#   ceph     Debian's ceph 16: a monitor and 3 BlueStore OSDs on 4 GiB files,
#            a pool of size 2 (librbd, through qemu's rbd driver and fio's)
# A 256 MiB disk is filled with random data. Then, N times: one 64 KiB write
# at a seeded random offset (qemu-io), one snapshot (`vmstore snapshot
# create`, `rbd snap create`); after snapshots 1-12 and at 25, 50, 100, 200,
# 500 and 1,000, 100 random 2 MiB reads at queue depth 1 (fio) give the median
# and 99th percentile latency. Then a clone of the newest snapshot, a clone of
# a snapshot of that clone, and one more (`vmstore vm clone`; `rbd snap
# protect` + `rbd clone`): the same reads on the base and on each depth.
#
# Usage: bash bench/cluster_snap_bench.sh [--quick] [--out FILE]
#   --quick  100 snapshots (about 4 minutes); full: 1,000 (about 20 minutes)
#   --out    also writes the table to FILE
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
count=1000
out=
while (($#)); do
  case $1 in
    --quick) count=100 ;;
    --out) out=$2; shift ;;
    *) echo "usage: bash bench/cluster_snap_bench.sh [--quick] [--out FILE]" >&2; exit 1 ;;
  esac
  shift
done
size_mib=256
bench_require cluster_snap_bench.sh fio jq etcd nbdinfo qemu-io
source bench/stores.sh
ceph_install

source tests/lib.sh
tmp=$(mktemp -d /var/tmp/vmstore-snap-bench.XXXXXX)
source tests/cluster_lib.sh
cleanup_all() {
  ceph_stop
  cleanup_cluster
}
trap cleanup_all EXIT

# lat2m SEED FIO_ARGS...: 100 random 2 MiB reads, QD1 -> "P50_US P99_US"
lat2m() {
  local seed=$1
  shift
  fio --name=r2m --rw=randread --bs=2M --iodepth=1 --io_size=200M --randseed="$seed" --output-format=json "$@" \
    2>/dev/null | sed -n '/^{/,$p' |
    jq -r '.jobs[0].read.clat_ns.percentile | [.["50.000000"] / 1000, .["99.000000"] / 1000] | map(floor) | @tsv'
}
measured() {  # measured K: is K one of the points read at?
  (($1 <= 12)) || [[ " 25 50 100 200 500 1000 " == *" $1 "* ]]
}
declare -A vm_lat ceph_lat
snap_points=()

echo "== vmstore: etcd, 3 nodes (R = 2), a gateway" >&2
vmstore_cluster n 3 "${size_mib}M"
vuri() { echo "nbd://127.0.0.1:$gw_port/$1/d"; }
vm_read() { lat2m "$1" --ioengine=nbd --uri="$(vuri "$2")" --size="${size_mib}M"; }
vm_lat[0]=$(vm_read 0 b)
t0=$(date +%s.%N)
RANDOM=7
for k in $(seq 1 "$count"); do
  qemu-io -f raw -c "write -P $((k % 250 + 1)) $(((RANDOM % (size_mib * 16)) * 65536)) 64k" "$(vuri b)" >/dev/null
  last=$(vmsc snapshot create b "s$k" | sed -nE 's/^created snapshot (b@[^ ]+).*/\1/p')
  if measured "$k"; then
    vm_lat[$k]=$(vm_read "$k" b)
    snap_points+=("$k")
    echo "  vmstore: $k snapshots: ${vm_lat[$k]}" >&2
  fi
done
vm_snap_s=$(echo "($(date +%s.%N) - $t0) / $count" | bc -l)
src=$last
for depth in 1 2 3; do
  vmsc vm clone "$src" "c$depth" >/dev/null
  ((depth == 3)) || src=$(vmsc snapshot create "c$depth" s | sed -nE "s/^created snapshot (c$depth@[^ ]+).*/\1/p")
done
vm_lat[base]=$(vm_read 1001 b)
for depth in 1 2 3; do vm_lat[c$depth]=$(vm_read $((1001 + depth)) "c$depth"); done
vmstore_cluster_stop

echo "== ceph rbd: a monitor, 3 OSDs (BlueStore on files), pool size 2" >&2
ceph_start "$tmp/ceph" 3 2
ceph_image b "${size_mib}M"
ceph_read() { lat2m "$1" --ioengine=rbd --clientname=admin --pool=rbd --rbdname="$2"; }
ceph_lat[0]=$(ceph_read 0 b)
t0=$(date +%s.%N)
RANDOM=7
for k in $(seq 1 "$count"); do
  qemu-io -f raw -c "write -P $((k % 250 + 1)) $(((RANDOM % (size_mib * 16)) * 65536)) 64k" "rbd:rbd/b:conf=$CEPH_CONF" \
    >/dev/null
  rbd snap create "rbd/b@s$k" >/dev/null 2>&1
  if measured "$k"; then
    ceph_lat[$k]=$(ceph_read "$k" b)
    echo "  ceph: $k snapshots: ${ceph_lat[$k]}" >&2
  fi
done
ceph_snap_s=$(echo "($(date +%s.%N) - $t0) / $count" | bc -l)
src=rbd/b@s$count
for depth in 1 2 3; do
  rbd snap protect "$src"
  rbd clone "$src" "rbd/c$depth"
  rbd snap create "rbd/c$depth@s" >/dev/null 2>&1
  src=rbd/c$depth@s
done
ceph_lat[base]=$(ceph_read 1001 b)
for depth in 1 2 3; do ceph_lat[c$depth]=$(ceph_read $((1001 + depth)) "c$depth"); done

table() {
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) cores;" \
    "2 MiB random reads at QD1 (100 per point) on a ${size_mib} MiB disk; a 64 KiB write and a snapshot each step"
  printf "%-22s %14s %14s %14s %14s\n" "" "vmstore p50 us" "p99 us" "ceph rbd p50" "p99"
  local k
  for k in 0 "${snap_points[@]}"; do
    printf "%-22s %14s %14s %14s %14s\n" "$k snapshots" ${vm_lat[$k]} ${ceph_lat[$k]}
  done
  printf "%-22s %14s %14s %14s %14s\n" "base disk, after" ${vm_lat[base]} ${ceph_lat[base]}
  for k in 1 2 3; do
    printf "%-22s %14s %14s %14s %14s\n" "clone depth $k" ${vm_lat[c$k]} ${ceph_lat[c$k]}
  done
  ratio() {  # ratio ARRAY A B: p50 of A / p50 of B
    local -n arr=$1
    awk -v a="${arr[$2]%%[[:space:]]*}" -v b="${arr[$3]%%[[:space:]]*}" 'BEGIN {printf "%.2f", a / b}'
  }
  echo "p50 ratios: snapshot 12 / 1: vmstore $(ratio vm_lat 12 1), ceph $(ratio ceph_lat 12 1);" \
    "snapshot $count / 1: vmstore $(ratio vm_lat "$count" 1), ceph $(ratio ceph_lat "$count" 1);" \
    "clone depth 3 / base: vmstore $(ratio vm_lat c3 base), ceph $(ratio ceph_lat c3 base)"
  printf "a 64 KiB write and a snapshot (CLI) per step: vmstore %.0f ms, ceph %.0f ms\n" \
    "$(echo "$vm_snap_s * 1000" | bc -l)" "$(echo "$ceph_snap_s * 1000" | bc -l)"
}
if [[ -n $out ]]; then table | tee "$out"; else table; fi
