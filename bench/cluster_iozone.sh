#!/usr/bin/env bash
# The VMStore article's IOZone runs on the cluster, beside Ceph RBD, in one
# run on this machine (everything on loopback): throughput of one client
# issuing one request at a time (IOZone's model) against the record size.
#   vmstore  a real etcd, 3 storage nodes (R = 2) and a gateway (fio's nbd engine)
#   ceph     Debian's ceph 16: a monitor and 3 BlueStore OSDs on 4 GiB files,
#            a pool of size 2 (fio's rbd engine)
# A 1 GiB disk filled with random data; for each record size of 4 KiB, 16 KiB,
# 64 KiB, 256 KiB and 1 MiB: sequential write, sequential read, random write
# and random read, each --seconds long at queue depth 1. IOZone itself runs on
# a file system; fio on the block device measures the same four tests without
# one (the article's guest file system added its own cache).
#
# Usage: bash bench/cluster_iozone.sh [--quick] [--out FILE]
#   --quick  3 s per point (about 4 minutes); full: 10 s (about 9 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
secs=10
out=
while (($#)); do
  case $1 in
    --quick) secs=3 ;;
    --out) out=$2; shift ;;
    *) echo "usage: bash bench/cluster_iozone.sh [--quick] [--out FILE]" >&2; exit 1 ;;
  esac
  shift
done
bench_require cluster_iozone.sh fio jq etcd nbdinfo
source bench/stores.sh
ceph_install

source tests/lib.sh
tmp=$(mktemp -d /var/tmp/vmstore-iozone.XXXXXX)
source tests/cluster_lib.sh
cleanup_all() {
  ceph_stop
  cleanup_cluster
}
trap cleanup_all EXIT

sizes=(4k 16k 64k 256k 1m)
modes=(write read randwrite randread)
declare -A mbps
# series STORE FIO_ARGS...: every record size and mode on one store
series() {
  local store=$1 bs mode
  shift
  for bs in "${sizes[@]}"; do
    for mode in "${modes[@]}"; do
      mbps[$store,$bs,$mode]=$(fio --name=iozone --rw="$mode" --bs="$bs" --iodepth=1 --time_based --runtime="$secs" \
        --ramp_time=1 --output-format=json "$@" 2>/dev/null | sed -n '/^{/,$p' |
        jq '.jobs[0] | (.read.bw_bytes + .write.bw_bytes) / 1e6 | . * 10 | floor / 10')
      echo "  $store $bs $mode: ${mbps[$store,$bs,$mode]} MB/s" >&2
    done
  done
}

echo "== vmstore: etcd, 3 nodes (R = 2), a gateway" >&2
vmstore_cluster n 3 1G
sleep 3  # the gateway's checkpoint puts the fill into the containers
series vmstore --ioengine=nbd --uri="$gw_uri" --size=1G
vmstore_cluster_stop

echo "== ceph rbd: a monitor, 3 OSDs (BlueStore on files), pool size 2" >&2
ceph_start "$tmp/ceph" 3 2
ceph_image b 1G
series ceph --ioengine=rbd --clientname=admin --pool=rbd --rbdname=b

table() {
  local bs mode
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) cores;" \
    "fio QD1 on a 1 GiB disk, $secs s per point; MB/s"
  printf "%-8s" record
  for mode in "${modes[@]}"; do printf " %10s %10s" "vms $mode" "ceph"; done
  printf "\n"
  for bs in "${sizes[@]}"; do
    printf "%-8s" "$bs"
    for mode in "${modes[@]}"; do printf " %10s %10s" "${mbps[vmstore,$bs,$mode]}" "${mbps[ceph,$bs,$mode]}"; done
    printf "\n"
  done
  printf "vmstore / ceph, 4 KiB records:"
  for mode in "${modes[@]}"; do
    awk -v m="$mode" -v a="${mbps[vmstore,4k,$mode]}" -v b="${mbps[ceph,4k,$mode]}" 'BEGIN {printf " %s %.1f", m, b ? a / b : 0}'
  done
  printf "\n"
}
if [[ -n $out ]]; then table | tee "$out"; else table; fi
