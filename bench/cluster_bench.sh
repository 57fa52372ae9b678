#!/usr/bin/env bash
# The snapshot paper's load through three stores in one run on this machine,
# as ratios measured together:
#   pool     VMStore's single-node pool (`vmstore serve`, NBD)
#   gateway  a VMStore cluster: a real etcd, 3 storage nodes (R = 2) and a
#            gateway, all on loopback (`vmstore serve --etcd`, NBD)
#   ceph     Ceph RBD from Debian's packages (ceph 16): one monitor, 3 OSDs
#            (BlueStore on 4 GiB files), a pool of size 2; fio's rbd engine
# Load: fio, 2 KiB requests, 67 % reads, 100 % random, iodepth 16, on a 1 GiB
# disk filled first with 1 GiB of fio's random data; each store measured
# twice, alternating, and the better run kept (the machine is shared).
#
# Usage: bash bench/cluster_bench.sh [--seconds S]   (root; installs the ceph
# packages if missing; about 4 minutes at the default 20 s per run)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
secs=20
while (($#)); do
  case $1 in
    --seconds) secs=$2; shift ;;
    *) echo "usage: bash bench/cluster_bench.sh [--seconds S]" >&2; exit 1 ;;
  esac
  shift
done
bench_require cluster_bench.sh fio jq etcd nbdinfo
source bench/stores.sh
ceph_install

source tests/lib.sh
tmp=$(mktemp -d /var/tmp/vmstore-cluster-bench.XXXXXX)
source tests/cluster_lib.sh
cleanup_all() {
  ceph_stop
  cleanup_cluster
}
trap cleanup_all EXIT

echo "== pool: vmstore serve on a pool directory" >&2
"$bin" --pool "$tmp/pool" init >/dev/null
"$bin" --pool "$tmp/pool" vm create b >/dev/null
"$bin" --pool "$tmp/pool" disk create b d --size 1G >/dev/null
pool_port=$(free_port)
"$bin" --pool "$tmp/pool" serve --listen "127.0.0.1:$pool_port" >"$tmp/pool.log" 2>&1 &
others+=($!)
pool_uri=nbd://127.0.0.1:$pool_port/b/d
bench_wait_port "$pool_uri"
fio --name=fill --ioengine=nbd --uri="$pool_uri" --rw=write --bs=1M --iodepth=4 --size=1G >/dev/null

echo "== gateway: etcd, 3 nodes (R = 2), a gateway" >&2
vmstore_cluster n 3 1G

echo "== ceph: 1 mon, 3 OSDs (BlueStore on files), pool size 2" >&2
ceph_start "$tmp/ceph" 3 2
ceph_image b 1G

declare -A best_iops best_lat
keep() {  # keep NAME "IOPS LAT": the better of the runs
  local i l
  read -r i l <<<"$2"
  if [[ -z ${best_iops[$1]:-} ]] || awk -v a="$i" -v b="${best_iops[$1]}" 'BEGIN {exit !(a > b)}'; then
    best_iops[$1]=$i
    best_lat[$1]=$l
  fi
}
for run in 1 2; do
  echo "== run $run: $secs s each" >&2
  keep pool "$(bench_fio "$pool_uri" "$secs" 1G)"
  keep gateway "$(bench_fio "$gw_uri" "$secs" 1G)"
  keep ceph "$(rbd_fio rbd b "$secs" --size=1G)"
done

echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) cores," \
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); fio 2 KiB 67 % reads random QD16, 1 GiB, $secs s, best of 2"
printf "%-40s %10s %14s %10s\n" store IOPS "mean lat (us)" MB/s
bench_row "vmstore pool (1 node)" "${best_iops[pool]}" "${best_lat[pool]}"
bench_row "vmstore gateway (3 nodes, R = 2)" "${best_iops[gateway]}" "${best_lat[gateway]}"
bench_row "ceph rbd (3 OSDs, size 2)" "${best_iops[ceph]}" "${best_lat[ceph]}"
awk -v p="${best_iops[pool]}" -v g="${best_iops[gateway]}" -v c="${best_iops[ceph]}" \
  'BEGIN {printf "gateway / pool %.2f, gateway / ceph rbd %.1f, pool / ceph rbd %.1f\n", g / p, g / c, p / c}'
