#!/usr/bin/env bash
# The snapshot paper's workload through NBD (fio's nbd engine: 2 KiB requests,
# 67 % reads, 100 % random, iodepth 16) on a 1 GiB disk:
#   - a VMStore native disk with 0, 10, 100, 200 and 1,000 snapshots, each
#     followed by 16 scattered 4 KiB writes (taken through the running server),
#     measured right after the snapshots (first writes to a cluster copy it,
#     as in every copy-on-write design) and again in steady state, after one
#     4 KiB write into every 64 KiB cluster;
#   - the same on each file-backed SR type: reflink on XFS, btrfs subvolumes,
#     zfs on zfs-fuse (file systems made for the run; needs root;
#     VMSTORE_BENCH_NATIVE_ONLY=1 leaves them out), up to 200 snapshots
#     (VMSTORE_BENCH_SR_MAX=1000 for the whole series);
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

source bench/lib.sh
run_fio() { bench_fio "$1" "$secs" 1G; }

echo "# nbd_bench: fio nbd, 2 KiB, 67 % reads, random, iodepth 16, 1 GiB, ${secs} s per point"
printf "%-40s %10s %14s %10s\n" "target" "IOPS" "mean lat us" "MB/s"

# Reference: a raw file through nbdkit.
truncate -s 1G "$tmp/raw.img"
dd if=/dev/urandom of="$tmp/raw.img" bs=1M count=1024 conv=notrunc status=none
nbdkit --exit-with-parent -f -i 127.0.0.1 -p 10911 file "$tmp/raw.img" &
pids+=($!)
bench_wait_port nbd://127.0.0.1:10911
read -r raw_iops raw_lat < <(run_fio nbd://127.0.0.1:10911)
bench_row "raw file (nbdkit file)" "$raw_iops" "$raw_lat"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# VMStore: one disk per SR type, snapshots added through the running server.
# The file-backed types live on file systems made for the run: reflink on XFS
# (reflink=1), btrfs subvolumes on btrfs (loop devices), zfs on a zfs-fuse
# pool in a file. A type whose file system cannot be made is left out, saying so.
export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null
srs=(default)
trap 'bench_cleanup_fs; cleanup' EXIT
[[ ${VMSTORE_BENCH_NATIVE_ONLY:-} != 1 ]] && bench_file_srs 6G
for sr in "${srs[@]}"; do
  "$bin" vm create "b$sr" >/dev/null
  "$bin" disk create "b$sr" d --size 1G --sr "$sr" >/dev/null
done
"$bin" serve --listen 127.0.0.1:10912 >"$tmp/serve.log" 2>&1 &
pids+=($!)
bench_wait_port nbd://127.0.0.1:10912/bdefault/d
declare -A steady
# The file-backed types stop at VMSTORE_BENCH_SR_MAX snapshots (default 200,
# as the qcow2 chains): 1,000 FICLONE copies of a 1 GiB image fragmented into
# 16,000 extents take XFS most of an hour.
sr_counts=()
for n in 0 10 100 200 1000; do (( n <= ${VMSTORE_BENCH_SR_MAX:-200} )) && sr_counts+=("$n"); done
for sr in "${srs[@]}"; do
  uri=nbd://127.0.0.1:10912/b$sr/d
  nbdcopy "$tmp/raw.img" "$uri"
  label=vmstore
  [[ $sr != default ]] && label="$sr SR"
  have=0
  counts=(0 10 100 200 1000)
  [[ $sr != default ]] && counts=("${sr_counts[@]}")
  for n in "${counts[@]}"; do
    while (( have < n )); do
      "$bin" snapshot create "b$sr" "s$have" >/dev/null
      bench_scatter "$uri" "$have" raw
      have=$((have + 1))
    done
    read -r iops lat < <(run_fio "$uri")
    bench_row "$label, $n snapshots, right after" "$iops" "$lat"
    bench_diverge "$uri" $((1 << 30))
    read -r iops lat < <(run_fio "$uri")
    steady[$sr,$n]=$iops
    bench_row "$label, $n snapshots, steady" "$iops" "$lat"
  done
done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
declare -A native
for n in 0 10 100 200 1000; do native[$n]=${steady[default,$n]}; done

# qcow2 chains through qemu-nbd.
qemu-img convert -f raw -O qcow2 "$tmp/raw.img" "$tmp/c0.qcow2"
top=$tmp/c0.qcow2
depth=0
for n in 0 10 100 200; do
  while (( depth < n )); do
    depth=$((depth + 1))
    qemu-img create -q -f qcow2 -b "$top" -F qcow2 "$tmp/c$depth.qcow2"
    top=$tmp/c$depth.qcow2
    bench_scatter "$top" "$depth" qcow2
  done
  qemu-nbd -f qcow2 -b 127.0.0.1 -p 10913 -x chain --persistent --shared=4 "$top" &
  pids+=($!)
  bench_wait_port nbd://127.0.0.1:10913/chain
  read -r iops lat < <(run_fio nbd://127.0.0.1:10913/chain)
  bench_row "qcow2 chain, $n overlays (qemu-nbd)" "$iops" "$lat"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done

awk -v a="${native[1000]}" -v b="${native[0]}" -v r="$raw_iops" \
  'BEGIN {printf "steady state: vmstore 1000 snapshots / none %.3f; vmstore none / raw nbdkit %.3f\n", a / b, b / r}'
for sr in "${srs[@]}"; do
  [[ $sr == default ]] && continue
  top=${sr_counts[-1]}
  awk -v s="$sr" -v t="$top" -v a="${steady[$sr,$top]}" -v b="${steady[$sr,0]}" -v r="$raw_iops" \
    'BEGIN {printf "steady state: %s SR %d snapshots / none %.3f; %s SR none / raw nbdkit %.3f\n", s, t, a / b, s, b / r}'
done
