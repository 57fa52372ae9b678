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
# one 4 KiB write into every 64 KiB cluster). Before each run the whole disk
# is read once through NBD, so every system starts with a warm page cache.
# Systems: VMStore native, VMStore on reflink/XFS, btrfs and zfs-fuse SRs
# (file systems made for the run), qcow2 external snapshot chains and qcow2
# internal snapshots served by qemu-nbd, and a raw file served by nbdkit (no
# snapshots: measured once, the limit).
#
# Snapshot operations at each N (paper_ops.csv): create, clone, rollback and
# delete of one extra snapshot, as a user calls them (the vmstore CLI against
# the running server; qemu-img for qcow2) and in-process for VMStore native
# (build/snapshot_ops_bench, which also times a 2 MiB read after every
# snapshot: paper_read2m.csv); snapshot lookup by name and time up to
# 1,000,000 snapshots, binary search against a linear scan (paper_lookup.csv).
#
# Usage: bash bench/paper.sh [--quick] [--out DIR]
#   --quick  1 GiB, 3 s per point, N in 0 1 10 100, file-backed SRs to 10
#            (under 10 minutes)
#   full     2 GiB, 10 s per point, N in 0 1 5 10 20 50 100 200 500 1000;
#            file-backed SRs stop at PAPER_SR_MAX (default 200: 1,000 FICLONE
#            copies of a fragmented image take XFS most of an hour)
# Writes DIR/paper{,_ops,_read2m,_lookup}.csv (machine details and commit in
# # lines) and a PNG per figure (paper_{iops,mbps,latency,create,ops,read2m,
# lookup}.png); DIR defaults to docs/img.
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
  size=1G bytes=$((1 << 30)) secs=3 counts=(0 1 10 100) sr_max=10
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
for b in "$bin" build/snapshot_ops_bench build/snapshot_search_bench; do
  [[ -x $b ]] || { echo "build first: bash scripts/setup.sh ($b is missing)" >&2; exit 1; }
done
mkdir -p "$out"
csv=$out/paper.csv
# Room: the largest system's disk with every point's diverged copy kept by
# the snapshots (each system is deleted when it is done), plus the raw image.
bench_need_space /var/tmp $(((bytes >> 30) * (${#counts[@]} + 4)))
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
stage() { echo "# $(date +%T) (+$(($(date +%s) - started)) s) $*"; }  # progress, to the log only

header() {  # the # lines every CSV starts with
  echo "# bench/paper.sh $( ((quick)) && echo --quick): fio nbd, 2 KiB, 67 % reads, 100 % random, iodepth 16, $size disk, $secs s per point"
  echo "# 16 scattered 4 KiB writes between snapshots; steady = after one 4 KiB write into every 64 KiB cluster; each run starts after the disk was read once (warm page cache)"
  echo "# date $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r), $(findmnt -n -o FSTYPE -T "$tmp") under $tmp"
  echo "# versions: $(fio --version), $(qemu-img --version | head -1), nbdkit $(nbdkit --version | awk '{print $2}'), zfs-fuse $(dpkg-query -W -f '${Version}' zfs-fuse 2>/dev/null || echo none), btrfs-progs $(dpkg-query -W -f '${Version}' btrfs-progs 2>/dev/null || echo none)"
}
ops_csv=$out/paper_ops.csv read_csv=$out/paper_read2m.csv lookup_csv=$out/paper_lookup.csv
{ header; echo "system,snapshots,phase,iops,mbps,mean_latency_us,create_ms"; } >"$csv"
{ header; echo "system,snapshots,op,via,ms"; } >"$ops_csv"
{ header; echo "system,snapshots,read_2mib_us"; } >"$read_csv"
{ header; echo "snapshots,by,bsearch_p50_us,bsearch_p99_us,linear_p50_us,linear_p99_us"; } >"$lookup_csv"
record() {  # SYSTEM N PHASE IOPS LATENCY_US CREATE_MS
  awk -v s="$1" -v n="$2" -v p="$3" -v i="$4" -v l="$5" -v c="$6" \
    'BEGIN {printf "%s,%d,%s,%.0f,%.1f,%.1f,%s\n", s, n, p, i, i * 2048 / 1e6, l, c}' >>"$csv"
  bench_row "$1, $2 snapshots, $3" "$4" "$5"
}
# measure SYSTEM N URI CREATE_MS: the "after" run, the diverging writes, the
# "steady" run, both recorded.
measure() {
  local iops lat
  bench_warm "$3"
  read -r iops lat < <(bench_fio "$3" "$secs" "$size")
  record "$1" "$2" after "$iops" "$lat" "$4"
  bench_diverge "$3" "$bytes"
  bench_warm "$3"
  read -r iops lat < <(bench_fio "$3" "$secs" "$size")
  record "$1" "$2" steady "$iops" "$lat" "$4"
}
# measure_qemu_nbd SYSTEM N IMAGE PORT CREATE_MS: measure with the qcow2
# IMAGE served by qemu-nbd for the two runs.
measure_qemu_nbd() {
  qemu-nbd -f qcow2 -b 127.0.0.1 -p "$4" -x "$1" --persistent --shared=4 "$3" &
  pids+=($!)
  bench_wait_port "nbd://127.0.0.1:$4/$1"
  measure "$1" "$2" "nbd://127.0.0.1:$4/$1" "$5"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
}
# run_us COMMAND...: runs COMMAND (output dropped), its wall time in took_us.
run_us() {
  local t0
  t0=$(bench_now_us)
  "$@" >/dev/null
  took_us=$(($(bench_now_us) - t0))
}
# timed COMMAND...: runs a snapshot-taking command, adding its wall time to
# create_us and one to made; create_ms prints their mean in ms ("" if none).
timed() {
  run_us "$@"
  create_us=$((create_us + took_us)) made=$((made + 1))
}
create_ms() { ((made)) && awk -v t="$create_us" -v m="$made" 'BEGIN {printf "%.1f", t / m / 1000}' || echo ""; }
# op SYSTEM N OP COMMAND...: times one snapshot operation into paper_ops.csv.
op() {
  local sys=$1 n=$2 name=$3
  shift 3
  run_us "$@"
  awk -v s="$sys" -v n="$n" -v o="$name" -v us="$took_us" \
    'BEGIN {printf "%s,%d,%s,cli,%.1f\n", s, n, o, us / 1000}' >>"$ops_csv"
}
# vmstore_ops SYSTEM N VM: the operation cycle through the CLI (server running).
vmstore_ops() {
  local full
  op "$1" "$2" create "$bin" snapshot create "$3" "x$2"
  full=$("$bin" --json snapshot list "$3" | jq -r --arg n "x$2" '.[] | select(.name == $n) | .full_name')
  op "$1" "$2" clone "$bin" vm clone "$3@$full" "c$3"
  "$bin" vm delete "c$3" >/dev/null
  op "$1" "$2" rollback "$bin" snapshot rollback "$3@$full" --force
  op "$1" "$2" delete "$bin" snapshot delete "$3@$full"
}
echo "# results in $csv"
printf "%-40s %10s %14s %10s\n" "target" "IOPS" "mean lat us" "MB/s"

# The data every disk starts from.
truncate -s "$size" "$tmp/raw.img"
dd if=/dev/urandom of="$tmp/raw.img" bs=1M count=$((bytes >> 20)) conv=notrunc status=none

# 1. The limit: a raw file through nbdkit, no snapshots.
stage raw
nbdkit --exit-with-parent -f -i 127.0.0.1 -p 10921 file "$tmp/raw.img" &
pids+=($!)
bench_wait_port nbd://127.0.0.1:10921
bench_warm nbd://127.0.0.1:10921
read -r iops lat < <(bench_fio nbd://127.0.0.1:10921 "$secs" "$size")
for n in "${counts[@]}"; do record raw "$n" steady "$iops" "$lat" ""; done
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# 2. VMStore native in-process: operations and the 2 MiB read after every snapshot.
stage "vmstore_native in-process"
# (It syncs after filling its disk, so the raw image written above is not
# being written back while its fsyncs are timed.)
build/snapshot_ops_bench --pool "$tmp/inproc" --size "$bytes" --counts "$(IFS=,; echo "${counts[*]}")" \
  --ops-csv "$ops_csv" --read-csv "$read_csv" --cycles 21
rm -rf "$tmp/inproc"

# 3. VMStore: native and the file-backed SR types, one server.
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
  stage "$system"
  nbdcopy "$tmp/raw.img" "$uri"
  have=0
  for n in "${counts[@]}"; do
    [[ $sr != default ]] && ((n > sr_max)) && break
    create_us=0 made=0
    while ((have < n)); do
      timed "$bin" snapshot create "p$sr" "s$have"
      bench_scatter "$uri" "$have" raw "$bytes"
      have=$((have + 1))
    done
    measure "$system" "$n" "$uri" "$(create_ms)"
    vmstore_ops "$system" "$n" "p$sr"
  done
  bench_release_sr "$sr" "p$sr"
done
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
bench_cleanup_fs
rm -rf "$tmp/pool"

# 4. qcow2 external snapshots: a backing chain; each snapshot freezes the top
# image and puts a new overlay (the live disk) over it.
stage qcow2_chain
qemu-img convert -f raw -O qcow2 "$tmp/raw.img" "$tmp/c0.qcow2"
top=$tmp/c0.qcow2 depth=0
for n in "${counts[@]}"; do
  create_us=0 made=0
  while ((depth < n)); do
    depth=$((depth + 1))
    timed qemu-img create -q -f qcow2 -b "$top" -F qcow2 "$tmp/c$depth.qcow2"
    top=$tmp/c$depth.qcow2
    bench_scatter "$top" "$depth" qcow2 "$bytes"
  done
  measure_qemu_nbd qcow2_chain "$n" "$top" 10923 "$(create_ms)"
  # The cycle on a chain: a snapshot freezes the top (x) under a new overlay;
  # a clone and a rollback are new overlays over x; deleting x commits the
  # overlay into it, and x is the top again.
  snap=$top top=$tmp/x$n.qcow2
  op qcow2_chain "$n" create qemu-img create -q -f qcow2 -b "$snap" -F qcow2 "$top"
  op qcow2_chain "$n" clone qemu-img create -q -f qcow2 -b "$snap" -F qcow2 "$tmp/clone.qcow2"
  rm "$tmp/clone.qcow2"
  op qcow2_chain "$n" rollback bash -c 'rm "$1" && qemu-img create -q -f qcow2 -b "$2" -F qcow2 "$1"' _ "$top" "$snap"
  op qcow2_chain "$n" delete qemu-img commit -q -d "$top"
  rm "$top"
  top=$snap
done
rm -f "$tmp"/c[0-9]*.qcow2

# 5. qcow2 internal snapshots: one file, chain-free lookups, refcounted clusters.
stage qcow2_internal
qemu-img convert -f raw -O qcow2 "$tmp/raw.img" "$tmp/internal.qcow2"
have=0
for n in "${counts[@]}"; do
  create_us=0 made=0
  while ((have < n)); do
    timed qemu-img snapshot -c "s$have" "$tmp/internal.qcow2"
    bench_scatter "$tmp/internal.qcow2" "$have" qcow2 "$bytes"
    have=$((have + 1))
  done
  measure_qemu_nbd qcow2_internal "$n" "$tmp/internal.qcow2" 10924 "$(create_ms)"
  # Internal snapshots cannot be cloned in place: a clone is a copy.
  op qcow2_internal "$n" create qemu-img snapshot -c "x$n" "$tmp/internal.qcow2"
  op qcow2_internal "$n" clone qemu-img convert -f qcow2 -O qcow2 -l "snapshot.name=x$n" "$tmp/internal.qcow2" "$tmp/clone.qcow2"
  rm "$tmp/clone.qcow2"
  op qcow2_internal "$n" rollback qemu-img snapshot -a "x$n" "$tmp/internal.qcow2"
  op qcow2_internal "$n" delete qemu-img snapshot -d "x$n" "$tmp/internal.qcow2"
done

# 6. Snapshot lookup up to 1,000,000 snapshots.
stage lookup
build/snapshot_search_bench --csv "$lookup_csv"

# Plots and the report (bench/paper_report.sh can remake them from the CSVs).
report_args=()
[[ $(realpath "$out") == $(realpath docs/img) ]] && report_args=(--update-docs)
bash bench/paper_report.sh "$out" "${report_args[@]}"
echo "# done in $(( $(date +%s) - started )) s"
