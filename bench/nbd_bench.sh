#!/usr/bin/env bash
# The snapshot paper's workload through NBD (fio's nbd engine: 2 KiB requests,
# 67 % reads, 100 % random, iodepth 16) on a 1 GiB disk:
#   - a VMStore native disk with 0, 10, 100, 200 and 1,000 snapshots, each
#     followed by 16 scattered 4 KiB writes (taken through the running server),
#     measured right after the snapshots (first writes to a cluster copy it,
#     as in every copy-on-write design) and again in steady state, after one
#     4 KiB write into every 64 KiB cluster;
#   - a raw file served by `nbdkit file` (the reference);
#   - qcow2 backing chains of 0, 10, 100 and 200 overlays served by qemu-nbd,
#     each overlay holding 16 scattered 4 KiB writes (the chained design the
#     paper measures against).
# Every figure is measured in this run. Usage: bash bench/nbd_bench.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
bin=$PWD/build/vmstore
tmp=$(mktemp -d /var/tmp/vmstore-nbdbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# fio on URI -> "IOPS mean_latency_us"
run_fio() {
  fio --name=paper --ioengine=nbd --uri="$1" --rw=randrw --rwmixread=67 --bs=2k --iodepth=16 --size=1G \
    --time_based --runtime="$secs" --ramp_time=1 --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
    jq -r '.jobs[0] | [(.read.iops + .write.iops), ((.read.lat_ns.mean * .read.iops + .write.lat_ns.mean * .write.iops) / (.read.iops + .write.iops) / 1000)] | @tsv'
}
wait_port() {
  for _ in $(seq 1 100); do
    nbdinfo --size "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server at $1 did not come up" >&2
  exit 1
}
scatter() {  # 16 scattered 4 KiB writes into URI, seeded
  local cmds=() i off
  RANDOM=$2
  for i in $(seq 1 16); do
    off=$(( (RANDOM * 32768 + RANDOM) % 262144 * 4096 ))
    cmds+=(-c "write -P $((i % 250 + 1)) $off 4k")
  done
  qemu-io -f "$3" "${cmds[@]}" "$1" >/dev/null
}

echo "# nbd_bench: fio nbd, 2 KiB, 67 % reads, random, iodepth 16, 1 GiB, ${secs} s per point"
printf "%-40s %10s %14s\n" "target" "IOPS" "mean lat us"

# Reference: a raw file through nbdkit.
truncate -s 1G "$tmp/raw.img"
dd if=/dev/urandom of="$tmp/raw.img" bs=1M count=1024 conv=notrunc status=none
nbdkit --exit-with-parent -f -i 127.0.0.1 -p 10911 file "$tmp/raw.img" &
pids+=($!)
wait_port nbd://127.0.0.1:10911
read -r raw_iops raw_lat < <(run_fio nbd://127.0.0.1:10911)
printf "%-40s %10.0f %14.1f\n" "raw file (nbdkit file)" "$raw_iops" "$raw_lat"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# VMStore: one disk, snapshots added through the running server.
export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null
"$bin" vm create bench >/dev/null
"$bin" disk create bench d --size 1G >/dev/null
"$bin" serve --listen 127.0.0.1:10912 >"$tmp/serve.log" 2>&1 &
pids+=($!)
wait_port nbd://127.0.0.1:10912/bench/d
nbdcopy "$tmp/raw.img" nbd://127.0.0.1:10912/bench/d
have=0
declare -A native
for n in 0 10 100 200 1000; do
  while (( have < n )); do
    "$bin" snapshot create bench "s$have" >/dev/null
    scatter nbd://127.0.0.1:10912/bench/d "$have" raw
    have=$((have + 1))
  done
  read -r iops lat < <(run_fio nbd://127.0.0.1:10912/bench/d)
  printf "%-40s %10.0f %14.1f\n" "vmstore, $n snapshots, right after" "$iops" "$lat"
  fio --name=diverge --ioengine=nbd --uri=nbd://127.0.0.1:10912/bench/d --rw=write:60k --bs=4k --iodepth=16 \
    --size=1G >/dev/null 2>&1
  read -r iops lat < <(run_fio nbd://127.0.0.1:10912/bench/d)
  native[$n]=$iops
  printf "%-40s %10.0f %14.1f\n" "vmstore, $n snapshots, steady" "$iops" "$lat"
done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# qcow2 chains through qemu-nbd.
qemu-img convert -f raw -O qcow2 "$tmp/raw.img" "$tmp/c0.qcow2"
top=$tmp/c0.qcow2
depth=0
for n in 0 10 100 200; do
  while (( depth < n )); do
    depth=$((depth + 1))
    qemu-img create -q -f qcow2 -b "$top" -F qcow2 "$tmp/c$depth.qcow2"
    top=$tmp/c$depth.qcow2
    scatter "$top" "$depth" qcow2
  done
  qemu-nbd -f qcow2 -b 127.0.0.1 -p 10913 -x chain --persistent --shared=4 "$top" &
  pids+=($!)
  wait_port nbd://127.0.0.1:10913/chain
  read -r iops lat < <(run_fio nbd://127.0.0.1:10913/chain)
  printf "%-40s %10.0f %14.1f\n" "qcow2 chain, $n overlays (qemu-nbd)" "$iops" "$lat"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done

awk -v a="${native[1000]}" -v b="${native[0]}" -v r="$raw_iops" \
  'BEGIN {printf "steady state: vmstore 1000 snapshots / none %.3f; vmstore none / raw nbdkit %.3f\n", a / b, b / r}'
