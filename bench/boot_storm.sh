#!/usr/bin/env bash
# Boot storm (the VMStore article's first experiment): many clones of one
# golden image booting at once, through a gateway, on 1 to 4 storage nodes
# whose links are shaped so that the number of nodes shows on one host.
#
# The golden image: Debian bookworm (debootstrap minbase with systemd, udev
# and the cloud kernel) in an ext4 image, made once and kept in --cache.
# The boot's read set: recorded once from a real boot of that image under
# qemu-system-x86_64 (TCG: this machine has no KVM) with the kernel and
# initrd given to qemu and the disk served by nbdkit with its log filter
# (every read's offset and length, in order, until the serial console shows
# the login prompt; the boot's writes go to nbdkit's cow filter and are left
# out of the replay). Kept in --cache with the image.
#
# For each node count: a real etcd on the host, every storage node and the
# gateway in a network namespace of its own (tests/netns_lib.sh), R = 2 (R = 1
# on one node); the image imported through the gateway, a snapshot, the
# clones made from it (`vmstore vm clone`); then each node's link shaped
# (tc tbf, both ways, --rate). For each clone count N: the gateway restarted
# (cold index cache), the host's page cache dropped, and N fio jobs - one per
# clone, its own NBD connection - replay the read set together (fio
# read_iolog, as fast as it completes, iodepth 4). Reported: aggregate MB/s,
# per-clone completion time p50 and p99, and the gateway's index cache hit
# ratio.
#
# Usage: bash bench/boot_storm.sh [--quick] [--nodes "1 2 3 4"] [--clones "1 5 10 25 50"]
#          [--rate 200mbit] [--cache DIR] [--out FILE] [--prepare]
#   full: nodes 1 2 3 4, clones 1 5 10 25 50; --quick: nodes 1 3, clones 1 10 25;
#   --prepare: only make the image and record the read set (into --cache)
#   (root: namespaces, debootstrap; network access to deb.debian.org the first
#   time; installs qemu-system-x86 if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
rate=200mbit
cache=/var/tmp/vmstore-boot-cache
out=
prepare=0
node_counts=(1 2 3 4)
clone_counts=(1 5 10 25 50)
usage() {
  echo "usage: bash bench/boot_storm.sh [--quick] [--nodes \"1 2 3 4\"] [--clones \"1 5 10 25 50\"] [--rate RATE]" \
    "[--cache DIR] [--out FILE] [--prepare]" >&2
}
while (($#)); do
  case $1 in
    --quick) node_counts=(1 3) clone_counts=(1 10 25) ;;
    --nodes) read -r -a node_counts <<<"$2"; shift ;;
    --clones) read -r -a clone_counts <<<"$2"; shift ;;
    --rate) rate=$2; shift ;;
    --cache) cache=$2; shift ;;
    --out) out=$2; shift ;;
    --prepare) prepare=1 ;;
    *) usage; exit 1 ;;
  esac
  shift
done
bench_check_rate "$rate"
[[ $(id -u) -eq 0 ]] || { echo "boot_storm.sh needs root (network namespaces, debootstrap)" >&2; exit 1; }
if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "installing qemu-system-x86 to record the boot's read set" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-system-x86 >/dev/null
fi
bench_require boot_storm.sh debootstrap mkfs.ext4 nbdkit qemu-img qemu-system-x86_64 fio jq etcd ip tc curl
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

source tests/lib.sh
tmp=$(mktemp -d /var/tmp/vmstore-boot-storm.XXXXXX)
source tests/cluster_lib.sh
source tests/netns_lib.sh
source bench/stores.sh
netns_setup
trap 'cleanup_cluster; netns_cleanup' EXIT
log() { echo "# $(date +%T) $*" >&2; }

# The golden image, its kernel and initrd: made once.
golden=$cache/golden.ext4
if [[ ! -s $golden || ! -s $cache/vmlinuz || ! -s $cache/initrd.img ]]; then
  log "building the golden image (debootstrap; a few minutes)"
  rm -f "$cache/boot.iolog"
  root=$tmp/root
  mkdir -p "$cache/debs"
  debootstrap --cache-dir="$cache/debs" --variant=minbase \
    --include=systemd-sysv,udev,linux-image-cloud-amd64,initramfs-tools bookworm "$root" http://deb.debian.org/debian \
    >"$tmp/debootstrap.log" 2>&1 || { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
  echo golden >"$root/etc/hostname"
  echo "/dev/vda / ext4 defaults 0 1" >"$root/etc/fstab"
  cp "$(ls "$root"/boot/vmlinuz-* | head -1)" "$cache/vmlinuz"
  cp "$(ls "$root"/boot/initrd.img-* | head -1)" "$cache/initrd.img"
  mib=$(du -sm "$root" | cut -f1)
  mkfs.ext4 -q -F -b 4096 -d "$root" "$golden.part" "$((mib * 3 / 2 + 256))M"
  mv "$golden.part" "$golden"
  rm -rf "$root"
fi
golden_bytes=$(stat -c %s "$golden")

# The boot's read set: recorded once from a real boot.
readset=$cache/boot.iolog
if [[ ! -s $readset || $readset -ot $golden ]]; then
  log "recording a boot of the golden image under qemu (TCG)"
  port=$(free_port)
  nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$port" --filter=log --filter=cow file "$golden" \
    logfile="$tmp/boot-nbd.log" &
  nbdkit_pid=$!
  bench_wait_port "nbd://127.0.0.1:$port"
  : >"$tmp/boot-nbd.log"  # bench_wait_port's own reads are not the boot's
  t0=$(date +%s)
  qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp 2 -m 1024 -display none -monitor none \
    -no-reboot -serial file:"$tmp/console.log" -kernel "$cache/vmlinuz" -initrd "$cache/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 fsck.mode=skip" \
    -drive "file=nbd://127.0.0.1:$port,format=raw,if=virtio,cache=none" &
  qemu_pid=$!
  booted=0
  for _ in $(seq 1 1800); do
    grep -q "login:" "$tmp/console.log" 2>/dev/null && { booted=1; break; }
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 0.5
  done
  boot_s=$(($(date +%s) - t0))
  kill "$qemu_pid" "$nbdkit_pid" 2>/dev/null || true
  wait "$qemu_pid" "$nbdkit_pid" 2>/dev/null || true
  ((booted)) || { echo "the golden image did not boot to a login prompt in 900 s; its console:" >&2; tail -30 "$tmp/console.log" >&2; exit 1; }
  {
    echo "fio version 2 iolog"
    echo "boot add"
    echo "boot open"
    sed -nE 's/.* Read id=[0-9]+ offset=(0x[0-9a-f]+) count=(0x[0-9a-f]+) .*/\1 \2/p' "$tmp/boot-nbd.log" |
      while read -r o c; do echo "boot read $((o)) $((c))"; done
    echo "boot close"
  } >"$readset.part"
  echo "# recorded: a boot to the login prompt in $boot_s s under TCG" >"$cache/boot.info"
  mv "$readset.part" "$readset"
fi
read -r set_reads set_bytes < <(awk '$2 == "read" {n++; b += $4} END {print n, b}' "$readset")
log "read set: $set_reads reads, $((set_bytes >> 20)) MiB of a $((golden_bytes >> 20)) MiB image; $(tail -1 "$cache/boot.info")"

((!prepare)) || exit 0

max_clones=${clone_counts[-1]}
declare -A result
for k in "${node_counts[@]}"; do
  replicas=$((k == 1 ? 1 : 2))
  log "$k node(s), R = $replicas"
  ns_cluster "k$k" "$k" "$replicas"
  gw=k${k}gw
  ns_gateway_start "$gw"
  vmg "$gw" vm create golden >/dev/null
  vmg "$gw" disk create golden d --size "$golden_bytes" >/dev/null
  qemu-img convert -n -f raw -O raw "$golden" "nbd://${ns_ip[$gw]}:10809/golden/d"
  snap=$(vmg "$gw" snapshot create golden base | sed -nE 's/^created snapshot (golden@[^ ]+).*/\1/p')
  for c in $(seq 1 "$max_clones"); do vmg "$gw" vm clone "$snap" "c$c" >/dev/null; done
  for i in $(seq 1 "$k"); do ns_shape_both "k${k}n$i" "$rate"; done
  for n_clones in "${clone_counts[@]}"; do
    ns_gateway_stop "$gw"
    sync
    echo 3 >/proc/sys/vm/drop_caches
    ns_gateway_start "$gw"
    {
      printf '[global]\nioengine=nbd\nread_iolog=%s\nreplay_no_stall=1\niodepth=4\n' "$readset"
      for c in $(seq 1 "$n_clones"); do printf '[c%d]\nuri=nbd://%s:10809/c%d/d\n' "$c" "${ns_ip[$gw]}" "$c"; done
    } >"$tmp/storm.fio"
    fio --output-format=json "$tmp/storm.fio" 2>"$tmp/storm-$k-$n_clones.err" | sed -n '/^{/,$p' \
      >"$tmp/storm-$k-$n_clones.json" || true  # a job's error is in the report
    hit=$(vmg "$gw" metrics 2>/dev/null | awk '/^vmstore_node_cache_hit_ratio\{/ {printf "%.3f", $2; exit}' || true)
    result[$k,$n_clones]=$(jq -r --arg hit "${hit:-?}" '
      ([.jobs[] | .job_runtime / 1000] | sort) as $t | ($t | length) as $n |
      ([.jobs[] | .read.io_bytes] | add) as $bytes |
      ([.jobs[] | .error] | add) as $errors |
      [($bytes / 1e6 / $t[-1]), $t[(($n - 1) / 2 | floor)], $t[((($n - 1) * 0.99) | ceil)], $errors, $hit] |
      "\(.[0] * 10 | floor / 10) \(.[1] * 100 | floor / 100) \(.[2] * 100 | floor / 100) \(.[3]) \(.[4])"' \
      "$tmp/storm-$k-$n_clones.json")
    log "  $k node(s), $n_clones clone(s): MB/s p50_s p99_s errors hit_ratio: ${result[$k,$n_clones]}"
    read -r _ _ _ errors _ <<<"${result[$k,$n_clones]}"
    if [[ $errors != 0 ]]; then
      log "  errors: fio said: $(grep -m3 -i "error\|fail" "$tmp/storm-$k-$n_clones.err" | tr '\n' ' ')"
      log "  the gateway said: $(grep -E " (warn|error) " "$tmp/gw-$gw.log" | tail -5)"
    fi
  done
  ns_cluster_stop
done

table() {
  local k n
  echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) cores;" \
    "boot read set $set_reads reads, $((set_bytes >> 20)) MiB; node links $rate each way; fio read_iolog, iodepth 4 per clone"
  printf "%-6s %-7s %10s %9s %9s %8s %12s\n" nodes clones "MB/s" "p50 s" "p99 s" "p99/p50" "index hits"
  for k in "${node_counts[@]}"; do
    for n in "${clone_counts[@]}"; do
      read -r mbps p50 p99 errors hit <<<"${result[$k,$n]}"
      printf "%-6s %-7s %10s %9s %9s %8s %12s%s\n" "$k" "$n" "$mbps" "$p50" "$p99" \
        "$(awk -v a="$p99" -v b="$p50" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')" "$hit" \
        "$([[ $errors == 0 ]] || echo "  (fio errors: $errors)")"
    done
  done
  for k in "${node_counts[@]}"; do
    ((k > 1)) || continue
    read -r a _ <<<"${result[$k,$max_clones]}"
    read -r b _ <<<"${result[1,$max_clones]}"
    awk -v k="$k" -v n="$max_clones" -v a="$a" -v b="$b" \
      'BEGIN {printf "%d clones: %d nodes / 1 node aggregate MB/s %.2f\n", n, k, (b > 0) ? a / b : 0}'
  done
}
if [[ -n $out ]]; then table | tee "$out"; else table; fi
