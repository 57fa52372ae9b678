#!/usr/bin/env bash
# Deduplication on real operating-system disks (issue 8, bench mode).
#
# Builds ext4 images of Debian bookworm with debootstrap (kept in a cache
# directory, rebuilt only when missing): minbase, minbase again (the same
# package set installed independently), minbase with ssh, curl and vim, and
# the buildd variant (compilers). Imports each into its own VM of a native
# pool with qemu-img over NBD - once with dedup off, once on - and reports
# logical bytes against stored data, the ratio against the ideal offline
# whole-cluster dedup of the same images (bench/dedup_ideal.cc), the index's
# memory, and write speed off vs on: the imports' throughput, and fio random
# writes of cluster-sized blocks of which half repeat earlier ones.
#
# Usage: bash bench/dedup.sh [--cluster 4K] [--out DIR (dedup-out)] [--cache DIR]
# Needs root (debootstrap), network access to deb.debian.org, and build/.
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=4K out=dedup-out cache=/var/tmp/vmstore-dedup-cache
while (($#)); do
  case $1 in
    --cluster) cluster=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    *) echo "usage: bash bench/dedup.sh [--cluster SIZE] [--out DIR] [--cache DIR]" >&2; exit 1 ;;
  esac
done
bin=$PWD/build/vmstore ideal=$PWD/build/dedup_ideal
for t in debootstrap mkfs.ext4 qemu-img fio jq nbdinfo; do
  command -v "$t" >/dev/null || { echo "dedup bench: $t is missing (bash scripts/setup.sh; apt-get install debootstrap)" >&2; exit 1; }
done
[[ -x $ideal ]] || { echo "dedup bench: build/dedup_ideal is missing (cmake --build build)" >&2; exit 1; }
source bench/lib.sh
mkdir -p "$out" "$cache/debs"
out=$(cd "$out" && pwd)
cache=$(cd "$cache" && pwd)
bench_tmpdir dedup
mirror=http://deb.debian.org/debian

# image NAME DEBOOTSTRAP_ARGS...: $cache/NAME.ext4, made once.
image() {
  local name=$1 img=$cache/$1.ext4
  shift
  if [[ ! -s $img ]]; then
    echo "# building $name (debootstrap $*)"
    local root=$tmp/root-$name
    debootstrap --cache-dir="$cache/debs" "$@" bookworm "$root" "$mirror" >"$tmp/$name.log" 2>&1 ||
      { tail -20 "$tmp/$name.log" >&2; exit 1; }
    local mib
    mib=$(du -sm "$root" | cut -f1)
    mkfs.ext4 -q -F -b 4096 -d "$root" "$img.part" "$((mib * 3 / 2 + 256))M"
    mv "$img.part" "$img"
    rm -rf "$root"
  fi
  images+=("$img")
}
images=()
image minbase-1 --variant=minbase
image minbase-2 --variant=minbase
image minbase-tools --variant=minbase --include=openssh-server,curl,vim-tiny,less
image buildd --variant=buildd

cbytes=$(numfmt --from=iec "$cluster")
echo "# ideal offline whole-cluster dedup at $cluster"
"$ideal" "$cbytes" "${images[@]}" | tee "$out/ideal.txt"
read -r ideal_logical ideal_distinct ideal_ratio < <(sed -n 's/^total nonzero_clusters=\([0-9]*\) distinct=\([0-9]*\) ratio=\([0-9.]*\)/\1 \2 \3/p' "$out/ideal.txt")

# run MODE: imports every image into its own VM, then fio; prints figures.
run() {
  local mode=$1 pool=$tmp/pool-$1 port=$((10930 + RANDOM % 50)) i=0 img secs t0
  export VMSTORE_POOL=$pool
  "$bin" init --cluster-size "$cluster" --dedup "$mode" >/dev/null
  for img in "${images[@]}"; do
    i=$((i + 1))
    "$bin" vm create "v$i" >/dev/null
    "$bin" disk create "v$i" d --size "$(stat -c %s "$img")" >/dev/null
  done
  "$bin" vm create load >/dev/null
  "$bin" disk create load d --size 1G >/dev/null
  "$bin" serve --listen "127.0.0.1:$port" >"$tmp/serve-$mode.log" 2>&1 &
  server=$!
  bench_wait_port "nbd://127.0.0.1:$port/load/d"
  t0=$(bench_now_us)
  i=0
  for img in "${images[@]}"; do
    i=$((i + 1))
    qemu-img convert -n -f raw -O raw "$img" "nbd://127.0.0.1:$port/v$i/d"
  done
  secs=$(awk -v a="$t0" -v b="$(bench_now_us)" 'BEGIN {printf "%.2f", (b - a) / 1e6}')
  "$bin" --json sr show default | jq -c .space >"$out/space-$mode.json"
  local rss
  rss=$(ps -o rss= -p "$server" | tr -d ' ')
  fio --name=dup --ioengine=nbd --uri="nbd://127.0.0.1:$port/load/d" --rw=randwrite --bs="$cluster" \
    --dedupe_percentage=50 --iodepth=16 --size=1G --time_based --runtime=20 --ramp_time=2 \
    --output-format=json 2>/dev/null | sed -n '/^{/,$p' | jq -r '.jobs[0].write.iops' >"$out/fio-$mode.txt"
  kill -TERM "$server"
  wait "$server"
  server=
  echo "$mode $secs $rss $(cat "$out/fio-$mode.txt")" >>"$out/runs.txt"
}
rm -f "$out/runs.txt"
run off
run on

total_bytes=0
for img in "${images[@]}"; do total_bytes=$((total_bytes + $(stat -c %s "$img"))); done
j() { jq -r ".$2" "$out/space-$1.json"; }
read -r _ secs_off rss_off iops_off < <(sed -n 1p "$out/runs.txt")
read -r _ secs_on rss_on iops_on < <(sed -n 2p "$out/runs.txt")
{
  echo "## Deduplication: ${#images[@]} Debian bookworm ext4 images, $cluster clusters"
  echo
  echo "Images: $(for img in "${images[@]}"; do echo -n "$(basename "$img" .ext4) ($(numfmt --to=iec "$(stat -c %s "$img")")), "; done | sed 's/, $//')."
  echo
  echo "| figure | dedup off | dedup on |"
  echo "|---|---|---|"
  echo "| logical (disks as written) | $(numfmt --to=iec "$(j off logical_bytes)") | $(numfmt --to=iec "$(j on logical_bytes)") |"
  echo "| data stored | $(numfmt --to=iec "$(j off data_bytes)") | $(numfmt --to=iec "$(j on data_bytes)") |"
  echo "| ratio (logical / stored) | $(j off dedup_ratio | xargs printf %.3f) | $(j on dedup_ratio | xargs printf %.3f) |"
  echo "| index memory / on disk | - | $(numfmt --to=iec "$(j on index_memory_bytes)") / $(numfmt --to=iec "$(j on index_file_bytes)") |"
  echo "| hooks / manifests loaded | - | $(j on hooks) / $(j on manifest_loads) |"
  echo "| import of all images: s, MiB/s | $secs_off, $(awk -v b=$total_bytes -v s=$secs_off 'BEGIN {printf "%.0f", b / s / 1048576}') | $secs_on, $(awk -v b=$total_bytes -v s=$secs_on 'BEGIN {printf "%.0f", b / s / 1048576}') |"
  echo "| server RSS after the imports | $(numfmt --to=iec $((rss_off * 1024))) | $(numfmt --to=iec $((rss_on * 1024))) |"
  echo "| fio random writes, $cluster, half duplicates: IOPS | $(printf %.0f "$iops_off") | $(printf %.0f "$iops_on") |"
  echo
  awk -v ideal="$ideal_ratio" -v distinct="$ideal_distinct" -v logical="$ideal_logical" -v c="$cbytes" \
    -v ratio="$(j on dedup_ratio)" -v mem="$(j on index_memory_bytes)" -v hookmem="$(j on index_hook_bytes)" \
    -v hooks="$(j on hooks)" -v so="$secs_off" -v sn="$secs_on" -v wo="$iops_off" -v wn="$iops_on" 'BEGIN {
    printf "- Ideal offline whole-cluster dedup of the same images: %d non-zero clusters, %d distinct, ratio %.3f.\n", logical, distinct, ideal
    printf "- Found: %.3f / %.3f = %.1f %% of the ideal ratio (goal >= 90 %%: %s).\n", ratio, ideal, 100 * ratio / ideal, (ratio >= 0.9 * ideal) ? "met" : "NOT met"
    printf "- Index memory: %.0f KiB, of which hooks %.0f KiB (%d hooks, one per %.1f distinct clusters: %.2f bytes per distinct cluster) and the rest the fixed cache of loaded manifests.\n", mem / 1024, hookmem / 1024, hooks, distinct / hooks, hookmem / distinct
    tib = 2 ^ 40 / c
    grow = hookmem / distinct * tib
    fixed = mem - hookmem
    zfs = tib * 320
    printf "- Per TiB of unique data at %d-byte clusters (%.0f M clusters): hooks %.0f MiB at this density + %.1f MiB fixed = %.0f MiB, against ZFS at 320 bytes per entry: %.0f MiB, %.0fx less (goal >= 20x: %s).\n", c, tib / 1e6, grow / 1048576, fixed / 1048576, (grow + fixed) / 1048576, zfs / 1048576, zfs / (grow + fixed), (zfs / (grow + fixed) >= 20) ? "met" : "NOT met"
    printf "- Write speed on / off: imports %.2f (%s), fio random writes %.2f (goal >= 0.70: %s).\n", so / sn, (so / sn >= 0.7) ? "met" : "NOT met", wn / wo, (wn / wo >= 0.7) ? "met" : "NOT met"
  }'
} | tee "$out/dedup.md"
