#!/usr/bin/env bash
# Two builds of vmstore as cluster gateways, measured in one run: for each
# build an etcd, 3 storage nodes (R = 2) and a gateway on loopback, a 1 GiB
# disk filled with fio's data, then fio's nbd engine with 2 KiB random
# requests at iodepth 16 - reads, writes, and the snapshot paper's mix (67 %
# reads) - the builds alternating run by run, best of 2 kept (the machine is
# shared). Prints IOPS, mean latency and new/old ratios.
#
# Usage: bash bench/gateway_ab.sh OLD_VMSTORE NEW_VMSTORE [--seconds S]
#   e.g. a build of the commit before a change against build/vmstore.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
old=${1:?usage: gateway_ab.sh OLD_VMSTORE NEW_VMSTORE [--seconds S]}
new=${2:?usage: gateway_ab.sh OLD_VMSTORE NEW_VMSTORE [--seconds S]}
shift 2
secs=15
while (($#)); do
  case $1 in
    --seconds) secs=$2; shift ;;
    *) echo "usage: gateway_ab.sh OLD_VMSTORE NEW_VMSTORE [--seconds S]" >&2; exit 1 ;;
  esac
  shift
done
for b in "$old" "$new"; do [[ -x $b ]] || { echo "not an executable: $b" >&2; exit 1; }; done
for tool in fio jq etcd nbdinfo; do
  command -v "$tool" >/dev/null || { echo "gateway_ab.sh needs $tool (scripts/setup.sh installs it)" >&2; exit 1; }
done

source tests/lib.sh
tmp=$(mktemp -d /var/tmp/vmstore-gateway-ab.XXXXXX)
source tests/cluster_lib.sh
# start_node and the gateway run $bin: each build gets its own etcd and nodes.
declare -A uri
for which in old new; do
  bin=$(realpath "${!which}")
  echo "== $which: $bin: etcd, 3 nodes (R = 2), a gateway" >&2
  mkdir -p "$tmp/$which"
  tmp_all=$tmp
  tmp=$tmp_all/$which
  start_etcd etcd
  "$bin" cluster init --etcd "$etcd_url" --replicas 2 >/dev/null
  for n in n1 n2 n3; do start_node "$n"; done
  port=$(free_port)
  "$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw" serve --listen "127.0.0.1:$port" >"$tmp/gw.log" 2>&1 &
  others+=($!)
  wait_for_log "$tmp/gw.log" "nbd://" gateway
  "$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw" vm create b >/dev/null
  "$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw" disk create b d --size 1G >/dev/null
  uri[$which]=nbd://127.0.0.1:$port/b/d
  bench_wait_port "${uri[$which]}"
  fio --name=fill --ioengine=nbd --uri="${uri[$which]}" --rw=write --bs=1M --iodepth=4 --size=1G >/dev/null
  tmp=$tmp_all
  others+=("${nodes[@]}" "$etcd_pid")
  nodes=()
  etcd_pid=
done

# one_fio URI RW SECONDS -> "IOPS MEAN_LATENCY_US"
one_fio() {
  fio --name=ab --ioengine=nbd --uri="$1" --rw="$2" --rwmixread=67 --bs=2k --iodepth=16 --size=1G \
    --time_based --runtime="$3" --ramp_time=1 --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
    jq -r '.jobs[0] | [(.read.iops + .write.iops), ((.read.lat_ns.mean * .read.iops + .write.lat_ns.mean * .write.iops) / (.read.iops + .write.iops) / 1000)] | @tsv'
}

declare -A best_iops best_lat
for run in 1 2; do
  for rw in randread randwrite randrw; do
    for which in old new; do
      read -r i l <<<"$(one_fio "${uri[$which]}" "$rw" "$secs")"
      k=$which-$rw
      if [[ -z ${best_iops[$k]:-} ]] || awk -v a="$i" -v b="${best_iops[$k]}" 'BEGIN {exit !(a > b)}'; then
        best_iops[$k]=$i
        best_lat[$k]=$l
      fi
    done
  done
done

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores; fio 2 KiB random QD16 through a gateway on 3 nodes (R = 2)," \
  "1 GiB, $secs s, best of 2; old = $old, new = $new"
printf "%-28s %10s %14s %10s\n" "build / load" IOPS "mean lat (us)" MB/s
for rw in randread randwrite randrw; do
  for which in old new; do
    bench_row "$which $rw" "${best_iops[$which-$rw]}" "${best_lat[$which-$rw]}"
  done
  awk -v o="${best_iops[old-$rw]}" -v n="${best_iops[new-$rw]}" -v r="$rw" 'BEGIN {printf "  new / old %s: %.2f\n", r, n / o}'
done
