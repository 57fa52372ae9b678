#!/usr/bin/env bash
# The snapshot paper's experiment: IOPS, MB/s and mean response time of its
# database load against the number of snapshots N, for every system in one
# run on this machine, plus the latency of taking a snapshot at each N.
#
# Load: fio's nbd engine, 2 KiB requests, 67 % reads, 100 % random, iodepth 16
# (the paper's Iometer profile), on a disk of 2 GiB (the paper's 4,000,000
# sectors; 1 GiB with --quick) filled with random data. Between snapshots: 16
# scattered 4 KiB writes. At each N two fio runs: "after" (straight after the
# snapshots: first writes into shared clusters copy them) and "steady" (after
# one 4 KiB write into every 64 KiB cluster).
# Systems: VMStore native, VMStore on reflink/XFS, btrfs and zfs-fuse SRs
# (file systems made for the run), qcow2 external snapshot chains and qcow2
# internal snapshots served by qemu-nbd, and a raw file served by nbdkit (no
# snapshots: measured once, the limit).
#
# Usage: bash bench/paper.sh [--quick] [--out DIR]
#   --quick  1 GiB, 3 s per point, N in 0 1 10 100 (under 10 minutes)
#   full     2 GiB, 10 s per point, N in 0 1 5 10 20 50 100 200 500 1000;
#            file-backed SRs stop at PAPER_SR_MAX (default 200: 1,000 FICLONE
#            copies of a fragmented image take XFS most of an hour)
# Writes DIR/paper.csv (machine details and commit in # lines) and
# DIR/paper_{iops,mbps,latency,create}.png; DIR defaults to docs/img.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
quick=0
out=docs/img
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    *) echo "usage: bash bench/paper.sh [--quick] [--out DIR]" >&2; exit 1 ;;
  esac
  shift
done
if ((quick)); then
  size=1G bytes=$((1 << 30)) secs=3 counts=(0 1 10 100) sr_max=100
else
  size=2G bytes=$((2 << 30)) secs=10 counts=(0 1 5 10 20 50 100 200 500 1000) sr_max=${PAPER_SR_MAX:-200}
fi
for tool in fio nbdkit qemu-nbd qemu-img qemu-io nbdinfo nbdcopy jq gnuplot; do
  command -v "$tool" >/dev/null || {
    echo "paper.sh needs $tool (apt-get install fio nbdkit qemu-utils libnbd-bin jq gnuplot-nox)" >&2
    exit 1
  }
done
bin=$PWD/build/vmstore
[[ -x $bin ]] || { echo "build first: bash scripts/setup.sh" >&2; exit 1; }
mkdir -p "$out"
csv=$out/paper.csv
tmp=$(mktemp -d /var/tmp/vmstore-paper.XXXXXX)
pids=()
srs=(default)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bench_cleanup_fs
  rm -rf "$tmp"
}
trap cleanup EXIT
started=$(date +%s)

{
  echo "# bench/paper.sh $( ((quick)) && echo --quick): fio nbd, 2 KiB, 67 % reads, 100 % random, iodepth 16, $size disk, $secs s per point"
  echo "# 16 scattered 4 KiB writes between snapshots; steady = after one 4 KiB write into every 64 KiB cluster"
  echo "# date $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "# versions: $(fio --version), $(qemu-img --version | head -1), nbdkit $(nbdkit --version | awk '{print $2}'), $(zfs-fuse --version 2>&1 | head -1 || true)"
  echo "system,snapshots,phase,iops,mbps,mean_latency_us,create_ms"
} >"$csv"
record() {  # SYSTEM N PHASE IOPS LATENCY_US CREATE_MS
  awk -v s="$1" -v n="$2" -v p="$3" -v i="$4" -v l="$5" -v c="$6" \
    'BEGIN {printf "%s,%d,%s,%.0f,%.1f,%.1f,%s\n", s, n, p, i, i * 2048 / 1e6, l, c}' >>"$csv"
  bench_row "$1, $2 snapshots, $3" "$4" "$5"
}
echo "# results in $csv"
printf "%-40s %10s %14s %10s\n" "target" "IOPS" "mean lat us" "MB/s"

# The data every disk starts from.
truncate -s "$size" "$tmp/raw.img"
dd if=/dev/urandom of="$tmp/raw.img" bs=1M count=$((bytes >> 20)) conv=notrunc status=none

# 1. The limit: a raw file through nbdkit, no snapshots.
nbdkit --exit-with-parent -f -i 127.0.0.1 -p 10921 file "$tmp/raw.img" &
pids+=($!)
bench_wait_port nbd://127.0.0.1:10921
read -r iops lat < <(bench_fio nbd://127.0.0.1:10921 "$secs" "$size")
for n in "${counts[@]}"; do record raw "$n" steady "$iops" "$lat" ""; done
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# 2. VMStore: native and the file-backed SR types, one server.
export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null
# Room for the disk and, per point, what the diverging writes copy (a whole
# record per cluster on ZFS): sparse files, so only what is written is used.
bench_file_srs $(((bytes >> 30) * (${#counts[@]} + 3)))G
for sr in "${srs[@]}"; do
  "$bin" vm create "p$sr" >/dev/null
  "$bin" disk create "p$sr" d --size "$size" --sr "$sr" >/dev/null
done
"$bin" serve --listen 127.0.0.1:10922 >"$tmp/serve.log" 2>&1 &
pids+=($!)
bench_wait_port nbd://127.0.0.1:10922/pdefault/d
for sr in "${srs[@]}"; do
  system=vmstore_$sr
  [[ $sr == default ]] && system=vmstore_native
  uri=nbd://127.0.0.1:10922/p$sr/d
  nbdcopy "$tmp/raw.img" "$uri"
  have=0
  for n in "${counts[@]}"; do
    [[ $sr != default ]] && ((n > sr_max)) && break
    create_us=0 made=0
    while ((have < n)); do
      t0=$(bench_now_us)
      "$bin" snapshot create "p$sr" "s$have" >/dev/null
      create_us=$((create_us + $(bench_now_us) - t0)) made=$((made + 1))
      bench_scatter "$uri" "$have" raw "$bytes"
      have=$((have + 1))
    done
    create_ms=$( ((made)) && awk -v t="$create_us" -v m="$made" 'BEGIN {printf "%.1f", t / m / 1000}' || echo "")
    read -r iops lat < <(bench_fio "$uri" "$secs" "$size")
    record "$system" "$n" after "$iops" "$lat" "$create_ms"
    bench_diverge "$uri" "$bytes"
    read -r iops lat < <(bench_fio "$uri" "$secs" "$size")
    record "$system" "$n" steady "$iops" "$lat" "$create_ms"
  done
done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# 3. qcow2 external snapshots: a backing chain; each snapshot freezes the top
# image and puts a new overlay (the live disk) over it.
qemu-img convert -f raw -O qcow2 "$tmp/raw.img" "$tmp/c0.qcow2"
top=$tmp/c0.qcow2 depth=0
for n in "${counts[@]}"; do
  create_us=0 made=0
  while ((depth < n)); do
    depth=$((depth + 1))
    t0=$(bench_now_us)
    qemu-img create -q -f qcow2 -b "$top" -F qcow2 "$tmp/c$depth.qcow2"
    create_us=$((create_us + $(bench_now_us) - t0)) made=$((made + 1))
    top=$tmp/c$depth.qcow2
    bench_scatter "$top" "$depth" qcow2 "$bytes"
  done
  create_ms=$( ((made)) && awk -v t="$create_us" -v m="$made" 'BEGIN {printf "%.1f", t / m / 1000}' || echo "")
  qemu-nbd -f qcow2 -b 127.0.0.1 -p 10923 -x chain --persistent --shared=4 "$top" &
  pids+=($!)
  bench_wait_port nbd://127.0.0.1:10923/chain
  read -r iops lat < <(bench_fio nbd://127.0.0.1:10923/chain "$secs" "$size")
  record qcow2_chain "$n" after "$iops" "$lat" "$create_ms"
  bench_diverge nbd://127.0.0.1:10923/chain "$bytes"
  read -r iops lat < <(bench_fio nbd://127.0.0.1:10923/chain "$secs" "$size")
  record qcow2_chain "$n" steady "$iops" "$lat" "$create_ms"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done

# 4. qcow2 internal snapshots: one file, chain-free lookups, refcounted clusters.
qemu-img convert -f raw -O qcow2 "$tmp/raw.img" "$tmp/internal.qcow2"
have=0
for n in "${counts[@]}"; do
  create_us=0 made=0
  while ((have < n)); do
    t0=$(bench_now_us)
    qemu-img snapshot -c "s$have" "$tmp/internal.qcow2"
    create_us=$((create_us + $(bench_now_us) - t0)) made=$((made + 1))
    bench_scatter "$tmp/internal.qcow2" "$have" qcow2 "$bytes"
    have=$((have + 1))
  done
  create_ms=$( ((made)) && awk -v t="$create_us" -v m="$made" 'BEGIN {printf "%.1f", t / m / 1000}' || echo "")
  qemu-nbd -f qcow2 -b 127.0.0.1 -p 10924 -x internal --persistent --shared=4 "$tmp/internal.qcow2" &
  pids+=($!)
  bench_wait_port nbd://127.0.0.1:10924/internal
  read -r iops lat < <(bench_fio nbd://127.0.0.1:10924/internal "$secs" "$size")
  record qcow2_internal "$n" after "$iops" "$lat" "$create_ms"
  bench_diverge nbd://127.0.0.1:10924/internal "$bytes"
  read -r iops lat < <(bench_fio nbd://127.0.0.1:10924/internal "$secs" "$size")
  record qcow2_internal "$n" steady "$iops" "$lat" "$create_ms"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done

# Plots: one per figure of the paper (steady state), one line per system.
stamp="$(date -u +%Y-%m-%d), $size disk, fio nbd 2 KiB 67 % reads random iodepth 16"
plot() {  # COLUMN TITLE YLABEL FILE
  local systems s cmd=""
  systems=$(grep -v '^#' "$csv" | tail -n +2 | cut -d, -f1 | awk '!seen[$0]++')
  for s in $systems; do
    grep -q "^$s,.*,steady," "$csv" || continue
    [[ $1 == 7 && $s == raw ]] && continue
    cmd+="${cmd:+, }\"< grep '^$s,.*,steady,' $csv\" using (\$2 == 0 ? 0.5 : \$2):$1 with linespoints title '$s'"
  done
  gnuplot <<EOF
set terminal pngcairo size 900,560 noenhanced
set output '$4'
set datafile separator ','
set title "$2\\n$stamp"
set xlabel 'snapshots (0 plotted at 0.5)'
set ylabel '$3'
set logscale x
set key outside right
set grid
plot $cmd
EOF
}
plot 4 "IOPS against snapshots (steady state)" "IOPS" "$out/paper_iops.png"
plot 5 "MB/s against snapshots (steady state)" "MB/s" "$out/paper_mbps.png"
plot 6 "Mean response time against snapshots (steady state)" "microseconds" "$out/paper_latency.png"
plot 7 "Taking one snapshot (mean over the snapshots added before each point)" "ms" "$out/paper_create.png"
echo "# done in $(( $(date +%s) - started )) s; plots in $out"
