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
bin=$PWD/build/vmstore
[[ -x $bin ]] || { echo "build first: bash scripts/setup.sh ($bin is missing)" >&2; exit 1; }
for tool in fio jq etcd nbdinfo; do
  command -v "$tool" >/dev/null || { echo "cluster_bench.sh needs $tool (scripts/setup.sh installs it)" >&2; exit 1; }
done
if ! command -v ceph-osd >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v rbd >/dev/null; then
  echo "installing ceph (ceph-mon ceph-osd ceph-common) for the comparison" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q ceph-mon ceph-osd ceph-common >/dev/null
fi
fio --enghelp 2>/dev/null | grep -qx '[[:space:]]*rbd' || { echo "this fio has no rbd engine" >&2; exit 1; }

source tests/lib.sh
tmp=$(mktemp -d /var/tmp/vmstore-cluster-bench.XXXXXX)
source tests/cluster_lib.sh
ceph_pids=()
cleanup_all() {
  { for p in "${ceph_pids[@]}"; do kill "$p"; done; } 2>/dev/null
  pkill -f "ceph-(mon|osd) -c $tmp/ceph" 2>/dev/null || true
  cleanup_cluster
}
trap cleanup_all EXIT

# rbd_fio POOL IMAGE SECONDS -> "IOPS MEAN_LATENCY_US" (as bench_fio)
rbd_fio() {
  CEPH_CONF=$tmp/ceph/ceph.conf fio --name=paper --ioengine=rbd --clientname=admin --pool="$1" --rbdname="$2" \
    --rw=randrw --rwmixread=67 --bs=2k --iodepth=16 --size=1G --time_based --runtime="$3" --ramp_time=1 \
    --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
    jq -r '.jobs[0] | [(.read.iops + .write.iops), ((.read.lat_ns.mean * .read.iops + .write.lat_ns.mean * .write.iops) / (.read.iops + .write.iops) / 1000)] | @tsv'
}

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
start_etcd etcd
"$bin" cluster init --etcd "$etcd_url" --replicas 2 >/dev/null
for n in n1 n2 n3; do start_node "$n"; done
gw_port=$(free_port)
"$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw" serve --listen "127.0.0.1:$gw_port" >"$tmp/gw.log" 2>&1 &
others+=($!)
wait_for_log "$tmp/gw.log" "nbd://" gateway
"$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw" vm create b >/dev/null
"$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw" disk create b d --size 1G >/dev/null
gw_uri=nbd://127.0.0.1:$gw_port/b/d
bench_wait_port "$gw_uri"
fio --name=fill --ioengine=nbd --uri="$gw_uri" --rw=write --bs=1M --iodepth=4 --size=1G >/dev/null

echo "== ceph: 1 mon, 3 OSDs (BlueStore on files), pool size 2" >&2
c=$tmp/ceph
mkdir -p "$c"/{run,log,mon,osd}
fsid=$(uuidgen)
mon_port=$(free_port)
cat >"$c/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = 127.0.0.1:$mon_port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 2
osd pool default min size = 1
osd crush chooseleaf type = 0
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 4294967296
run dir = $c/run
log file = $c/log/\$name.log
admin socket = $c/run/\$name.asok
mon data = $c/mon/\$cluster-\$id
osd data = $c/osd/\$cluster-\$id
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail crit = 1
EOF
monmaptool --create --add a "127.0.0.1:$mon_port" --fsid "$fsid" "$c/monmap" >/dev/null
ceph-authtool --create-keyring "$c/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-mon -c "$c/ceph.conf" --mkfs -i a --monmap "$c/monmap" --keyring "$c/mon.keyring"
ceph-mon -c "$c/ceph.conf" -i a
cephc() { timeout 60 ceph -c "$c/ceph.conf" "$@" 2>/dev/null; }
for i in 0 1 2; do
  u=$(uuidgen)
  id=$(cephc osd new "$u")
  mkdir -p "$c/osd/ceph-$id"
  ceph-osd -c "$c/ceph.conf" -i "$id" --mkfs --osd-uuid "$u" >/dev/null 2>&1
  # The first start can lose a race with its own registration; once more.
  ceph-osd -c "$c/ceph.conf" -i "$id" 2>/dev/null || { sleep 1; ceph-osd -c "$c/ceph.conf" -i "$id" 2>/dev/null; }
done
for _ in $(seq 1 60); do
  cephc osd stat | grep -q "3 up" && break
  sleep 1
done
cephc osd stat | grep -q "3 up" || { echo "ceph: 3 OSDs did not come up: $(cephc osd stat)" >&2; exit 1; }
cephc osd pool create rbd 32 32 >/dev/null
cephc osd pool set rbd size 2 >/dev/null
rbd -c "$c/ceph.conf" pool init rbd
rbd -c "$c/ceph.conf" create rbd/b --size 1G
CEPH_CONF=$c/ceph.conf fio --name=fill --ioengine=rbd --clientname=admin --pool=rbd --rbdname=b --rw=write --bs=1M \
  --iodepth=4 --size=1G >/dev/null

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
  keep ceph "$(rbd_fio rbd b "$secs")"
done

echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) cores," \
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); fio 2 KiB 67 % reads random QD16, 1 GiB, $secs s, best of 2"
printf "%-40s %10s %14s %10s\n" store IOPS "mean lat (us)" MB/s
bench_row "vmstore pool (1 node)" "${best_iops[pool]}" "${best_lat[pool]}"
bench_row "vmstore gateway (3 nodes, R = 2)" "${best_iops[gateway]}" "${best_lat[gateway]}"
bench_row "ceph rbd (3 OSDs, size 2)" "${best_iops[ceph]}" "${best_lat[ceph]}"
awk -v p="${best_iops[pool]}" -v g="${best_iops[gateway]}" -v c="${best_iops[ceph]}" \
  'BEGIN {printf "gateway / pool %.2f, gateway / ceph rbd %.1f, pool / ceph rbd %.1f\n", g / p, g / c, p / c}'
