#!/usr/bin/env bash
# Scaling with storage nodes and gateways (the VMStore article: throughput
# growing with the store): the snapshot paper's load and a 1 MiB sequential
# read, aggregate over 1, 2 and 4 storage nodes and 1, 2 and 4 gateways.
# Every node and gateway in a network namespace of its own on one bridge
# (tests/netns_lib.sh), each node's link shaped both ways (tc tbf, --rate) so
# that the node count shows on one host; the gateways' links are not shaped.
# A gateway serves whole SRs, so each gateway has a cluster SR of its own
# with one 256 MiB disk, filled before the links are shaped; with G gateways,
# G fio clients (one per gateway's disk) run together and their figures add.
# R = 2 (R = 1 on one node).
#
# Usage: bash bench/cluster_scaling.sh [--quick] [--rate 200mbit] [--out FILE]
#   full: 10 s per point (about 8 minutes); --quick: 4 s (about 4 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rate=200mbit
secs=10
out=
while (($#)); do
  case $1 in
    --quick) secs=4 ;;
    --rate) rate=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "usage: bash bench/cluster_scaling.sh [--quick] [--rate RATE] [--out FILE]" >&2; exit 1 ;;
  esac
  shift
done
bench_check_rate "$rate"
[[ $(id -u) -eq 0 ]] || { echo "cluster_scaling.sh needs root (network namespaces)" >&2; exit 1; }
bench_require cluster_scaling.sh fio jq etcd ip tc nbdinfo

source tests/lib.sh
tmp=$(mktemp -d /var/tmp/vmstore-scaling.XXXXXX)
source tests/cluster_lib.sh
source tests/netns_lib.sh
source bench/stores.sh
netns_setup
trap 'cleanup_cluster; netns_cleanup' EXIT
log() { echo "# $(date +%T) $*" >&2; }

node_counts=(1 2 4)
gw_counts=(1 2 4)
declare -A iops mbps
# together G FIO_ARGS...: one fio job per gateway 1..G at once -> the summed
# "IOPS MB/s ERRORS" of the jobs (ERRORS: the jobs' error codes added)
together() {
  local g=$1 i
  shift
  {
    printf '[global]\nioengine=nbd\ntime_based\nruntime=%s\nramp_time=1\n' "$secs"
    printf '%s\n' "$@"
    for i in $(seq 1 "$g"); do printf '[g%d]\nuri=nbd://%s:10809/v%d/d\n' "$i" "${ns_ip[$prefix-gw$i]}" "$i"; done
  } >"$tmp/together.fio"
  fio --output-format=json "$tmp/together.fio" 2>/dev/null | sed -n '/^{/,$p' |
    jq -r '[([.jobs[] | .read.iops + .write.iops] | add), ([.jobs[] | .read.bw_bytes + .write.bw_bytes] | add / 1e6),
      ([.jobs[] | .error] | add)] | "\(.[0] | floor) \(.[1] * 10 | floor / 10) \(.[2])"'
}

for k in "${node_counts[@]}"; do
  prefix=s$k
  log "$k node(s)"
  ns_cluster "$prefix" "$k" $((k == 1 ? 1 : 2))
  for i in $(seq 1 "${gw_counts[-1]}"); do
    gw=$prefix-gw$i
    ns_gateway_start "$gw"
    vmg "$gw" sr create "sr$i" --type cluster >/dev/null
    vmg "$gw" vm create "v$i" >/dev/null
    vmg "$gw" disk create "v$i" d --size 256M --sr "sr$i" >/dev/null
    uri=nbd://${ns_ip[$gw]}:10809/v$i/d
    bench_wait_port "$uri"
    fio --name=fill --ioengine=nbd --uri="$uri" --rw=write --bs=1M --iodepth=4 --size=256M >/dev/null
  done
  for i in $(seq 1 "$k"); do ns_shape_both "${prefix}n$i" "$rate"; done
  for g in "${gw_counts[@]}"; do
    read -r iops[$k,$g] _ e1 < <(together "$g" rw=randrw rwmixread=67 bs=2k iodepth=16)
    read -r _ mbps[$k,$g] e2 < <(together "$g" rw=read bs=1m iodepth=4)
    [[ $e1 == 0 ]] || iops[$k,$g]+="!"
    [[ $e2 == 0 ]] || mbps[$k,$g]+="!"
    log "  $k node(s), $g gateway(s): paper load ${iops[$k,$g]} IOPS, 1 MiB reads ${mbps[$k,$g]} MB/s (fio errors $e1, $e2)"
  done
  ns_cluster_stop
done

table() {
  local k g
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) cores;" \
    "node links $rate each way; $secs s per point; one 256 MiB disk per gateway"
  printf "%-24s" "nodes \\ gateways"
  for g in "${gw_counts[@]}"; do printf " %12s" "$g (IOPS)"; done
  for g in "${gw_counts[@]}"; do printf " %12s" "$g (MB/s)"; done
  printf "\n"
  for k in "${node_counts[@]}"; do
    printf "%-24s" "$k"
    for g in "${gw_counts[@]}"; do printf " %12s" "${iops[$k,$g]}"; done
    for g in "${gw_counts[@]}"; do printf " %12s" "${mbps[$k,$g]}"; done
    printf "\n"
  done
  echo "IOPS: the paper's load (2 KiB, 67 % reads, random, QD16 per gateway); MB/s: 1 MiB sequential reads, QD4 per gateway;" \
    "! after a figure: a client had an I/O error"
  awk -v a="${mbps[4,4]}" -v b="${mbps[1,4]}" -v c="${iops[4,4]}" -v d="${iops[1,4]}" \
    'BEGIN {printf "4 nodes / 1 node with 4 gateways: 1 MiB reads %.2f, paper load %.2f\n", b ? a / b : 0, d ? c / d : 0}'
}
if [[ -n $out ]]; then table | tee "$out"; else table; fi
