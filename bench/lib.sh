# Helpers the NBD benchmarks share (sourced by nbd_bench.sh and paper.sh).
# The paper's load: fio's nbd engine, 2 KiB requests, 67 % reads, 100 %
# random, iodepth 16.

# bench_fio URI SECONDS SIZE -> "IOPS MEAN_LATENCY_US"
bench_fio() {
  fio --name=paper --ioengine=nbd --uri="$1" --rw=randrw --rwmixread=67 --bs=2k --iodepth=16 --size="$3" \
    --time_based --runtime="$2" --ramp_time=1 --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
    jq -r '.jobs[0] | [(.read.iops + .write.iops), ((.read.lat_ns.mean * .read.iops + .write.lat_ns.mean * .write.iops) / (.read.iops + .write.iops) / 1000)] | @tsv'
}

# bench_row LABEL IOPS LATENCY_US -> one table row (MB/s of 2 KiB requests)
bench_row() {
  awk -v l="$1" -v i="$2" -v t="$3" 'BEGIN {printf "%-40s %10.0f %14.1f %10.1f\n", l, i, t, i * 2048 / 1e6}'
}

# bench_wait_port URI: waits up to 10 s for an NBD server to answer.
bench_wait_port() {
  for _ in $(seq 1 100); do
    nbdinfo --size "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server at $1 did not come up" >&2
  exit 1
}

# bench_scatter URI SEED FORMAT [DISK_BYTES]: 16 scattered 4 KiB writes, seeded.
bench_scatter() {
  local cmds=() i off units=$(( ${4:-1073741824} / 4096 ))
  RANDOM=$2
  for i in $(seq 1 16); do
    off=$(( (RANDOM * 32768 + RANDOM) % units * 4096 ))
    cmds+=(-c "write -P $((i % 250 + 1)) $off 4k")
  done
  qemu-io -f "$3" "${cmds[@]}" "$1" >/dev/null
}

# bench_diverge URI DISK_BYTES: one 4 KiB write into every 64 KiB cluster, so
# no later write has anything left to copy (steady state). (Without io_size
# fio wraps around until it has written the whole size: 16 writes per cluster.)
bench_diverge() {
  fio --name=diverge --ioengine=nbd --uri="$1" --rw=write:60k --bs=4k --iodepth=16 --size="$2" \
    --io_size=$(($2 / 16)) >/dev/null
}

# bench_warm URI: reads the whole disk once, so every system starts a
# measurement with what it reads in the page cache (24 GiB of RAM hold any disk
# here; without this, a system that had just made a new file, e.g. a reflink
# rollback, ran from the disk and the others from memory).
bench_warm() { nbdcopy "$1" null:; }

# bench_now_us: a monotonic-enough clock in microseconds.
bench_now_us() { echo $(( $(date +%s%N) / 1000 )); }

# bench_file_srs FS_SIZE: makes the file systems of the file-backed SR types in
# $tmp (XFS with reflink=1 and btrfs on loop devices, a zfs-fuse pool in a
# file) and an SR of each in the pool ($bin, VMSTORE_POOL), appending the SR
# names (reflink_xfs, btrfs, zfs) to the array `srs`. A type whose file system
# cannot be made is left out, saying so. bench_cleanup_fs undoes it.
bench_mounts=()
bench_zpool=
bench_zfs_daemon=  # 1: bench_file_srs started zfs-fuse, so cleanup stops it
bench_file_srs() {
  local fs mkfs
  for fs in xfs btrfs; do
    mkfs=(mkfs.xfs -q -f -m reflink=1)
    [[ $fs == btrfs ]] && mkfs=(mkfs.btrfs -q -f)
    truncate -s "$1" "$tmp/$fs.img"
    mkdir -p "$tmp/$fs"
    if "${mkfs[@]}" "$tmp/$fs.img" >/dev/null 2>&1 && mount -o loop "$tmp/$fs.img" "$tmp/$fs"; then
      bench_mounts+=("$tmp/$fs")
    else
      echo "# left out: cannot make and mount $fs on a loop device (needs root)"
    fi
  done
  if [[ -n $(findmnt -n "$tmp/xfs" 2>/dev/null) ]]; then
    "$bin" sr create reflink_xfs --type reflink --path "$tmp/xfs/sr" >/dev/null && srs+=(reflink_xfs)
  fi
  if [[ -n $(findmnt -n "$tmp/btrfs" 2>/dev/null) ]]; then
    "$bin" sr create btrfs --type btrfs --path "$tmp/btrfs/sr" >/dev/null && srs+=(btrfs)
  fi
  if ! zpool list >/dev/null 2>&1; then
    zfs-fuse --no-kstat-mount >/dev/null 2>&1 && bench_zfs_daemon=1
    sleep 1
  fi
  truncate -s "$1" "$tmp/zpool.img"
  if zpool create -m "$tmp/zfs" "vmsbench$$" "$tmp/zpool.img" >/dev/null 2>&1; then
    bench_zpool=vmsbench$$
    zfs create "$bench_zpool/sr"
    "$bin" sr create zfs --type zfs --dataset "$bench_zpool/sr" >/dev/null && srs+=(zfs)
  else
    echo "# left out: zfs (cannot make a zfs-fuse pool)"
  fi
}
bench_cleanup_fs() {
  # zfs-fuse calls a pool busy for a while after its files are closed.
  if [[ -n $bench_zpool ]]; then
    for _ in $(seq 100); do zpool destroy -f "$bench_zpool" 2>/dev/null && break; sleep 0.1; done
  fi
  local m
  for m in "${bench_mounts[@]}"; do umount "$m" 2>/dev/null || true; done
  bench_zpool= bench_mounts=()
  rm -f "$tmp/xfs.img" "$tmp/btrfs.img" "$tmp/zpool.img"
  if [[ -n $bench_zfs_daemon ]]; then
    pkill -x zfs-fuse || true
    for _ in $(seq 100); do pgrep -x zfs-fuse >/dev/null || break; sleep 0.1; done
    bench_zfs_daemon=
  fi
}

# bench_release_sr SR VM: deletes VM (its disks and snapshots) and gives what
# its file system freed back to the file the file system lives in (fstrim;
# btrfs deletes subvolumes in the background, so it waits for that first).
bench_release_sr() {
  "$bin" vm delete "$2" --recursive --force >/dev/null
  case $1 in
    reflink_xfs) fstrim "$tmp/xfs" || true ;;
    btrfs) btrfs subvolume sync "$tmp/btrfs" >/dev/null 2>&1 || true; fstrim "$tmp/btrfs" || true ;;
  esac
}

# bench_need_space DIR GIB: fails, saying so, unless DIR's file system has
# GIB GiB free.
bench_need_space() {
  local have
  have=$(df --output=avail -B1G "$1" | tail -1 | tr -d ' ')
  if ((have < $2)); then
    echo "this benchmark needs about $2 GiB free under $1 (it keeps every snapshot of every system it is measuring); there are $have GiB" >&2
    exit 1
  fi
}

# bench_tmpdir NAME: makes $tmp (/var/tmp/vmstore-NAME.XXXXXX) and an EXIT trap
# that stops the server in $server, if any, and removes $tmp.
bench_tmpdir() {
  tmp=$(mktemp -d "/var/tmp/vmstore-$1.XXXXXX")
  server=
  trap bench_cleanup_tmpdir EXIT
}
bench_cleanup_tmpdir() {
  [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$tmp"
}

# bench_require SCRIPT TOOL...: build/vmstore is built (sets $bin) and every
# TOOL is installed, or exits saying which is missing.
bench_require() {
  local script=$1 tool
  shift
  bin=$PWD/build/vmstore
  [[ -x $bin ]] || { echo "build first: bash scripts/setup.sh ($bin is missing)" >&2; exit 1; }
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$script needs $tool (scripts/setup.sh installs it)" >&2; exit 1; }
  done
}

# bench_check_rate RATE: a tc rate such as 200mbit, or exits.
bench_check_rate() {
  [[ $1 =~ ^[0-9]+(kbit|mbit|gbit)$ ]] || { echo "--rate: like 200mbit (tc's units kbit, mbit, gbit), not '$1'" >&2; exit 1; }
}
