#!/usr/bin/env bash
# A VM's load through a failure and the recovery after it, VMStore beside
# Ceph RBD, measured in one run on this machine (everything on loopback):
#   vmstore  a real etcd, 3 storage nodes (R = 2) and a gateway, twice: with
#            no recovery cap (the default) and with --cap MiB/s per node
#   ceph     Debian's ceph 16: a monitor, a manager and 3 BlueStore OSDs on
#            4 GiB files, a pool of size 2, its recovery settings as shipped
# A disk of --size is filled with random data; the snapshot paper's load
# (fio 2 KiB, 67 % reads, random, iodepth 16) runs throughout, its IOPS logged
# each second. After 10 s one node (one OSD) is killed -9 and taken out of
# the store at once (`vmstore node remove` once its lease has run out; `ceph
# osd down` and `out`), so the two survivors copy what it held until every
# block has two copies again. Reported: the load's IOPS before the failure,
# during the recovery (mean and worst second) and after it, the recovery's
# length, and each store's during/before ratio. --plot FILE draws the
# per-second IOPS of the three around the failure (gnuplot, PNG).
#
# Usage: bash bench/recovery_bench.sh [--size 512M] [--cap 8] [--max-seconds 240] [--plot FILE]
#   (root; installs the ceph packages if missing; about 5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
size=512M
cap=8
max=240
before=10
plot=
usage() { echo "usage: bash bench/recovery_bench.sh [--size 512M] [--cap MIB_PER_S] [--max-seconds S] [--plot FILE]" >&2; }
while (($#)); do
  case $1 in
    --size) size=$2; shift ;;
    --cap) cap=$2; shift ;;
    --max-seconds) max=$2; shift ;;
    --plot) plot=$2; shift ;;
    *) usage; exit 1 ;;
  esac
  shift
done
[[ $cap =~ ^[1-9][0-9]*$ ]] || { echo "--cap: a whole number of MiB/s above 0, not '$cap'" >&2; exit 1; }
[[ $max =~ ^[1-9][0-9]*$ ]] || { echo "--max-seconds: a whole number above 0, not '$max'" >&2; exit 1; }
tools=(fio jq etcd nbdinfo)
[[ -z $plot ]] || tools+=(gnuplot)
bench_require recovery_bench.sh "${tools[@]}"
source bench/stores.sh
ceph_install

source tests/lib.sh
tmp=$(mktemp -d /var/tmp/vmstore-recovery-bench.XXXXXX)
source tests/cluster_lib.sh
cleanup_all() {
  ceph_stop
  cleanup_cluster
}
trap cleanup_all EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

# load_start NAME FIO_ARGS...: the paper's load in the background, IOPS
# logged each second into $tmp/NAME_iops.1.log; sets load_pid and load_t0.
load_start() {
  local name=$1
  shift
  load_t0=$(now)
  fio --name=paper --rw=randrw --rwmixread=67 --bs=2k --iodepth=16 --time_based --runtime=$((before + max + 60)) \
    --write_iops_log="$tmp/$name" --log_avg_msec=1000 --output-format=json --output="$tmp/$name.json" "$@" \
    >/dev/null 2>&1 &
  load_pid=$!
}
load_stop() {  # fio ends its job on SIGINT and writes its log and report
  kill -INT "$load_pid"
  wait "$load_pid" || true
}

# report NAME LABEL FAIL OUT END: one table row from the IOPS log; FAIL, OUT and
# END are seconds since load_t0 (the kill, the take-out, R copies again; END
# empty if the recovery did not end). Writes $tmp/NAME.dat (seconds since the
# failure, IOPS) for the plot.
rows=()
report() {
  local name=$1 label=$2 f=$3 o=$4 e=$5 errors
  errors=$(sed -n '/^{/,$p' "$tmp/$name.json" | jq '.jobs[0].error' 2>/dev/null || echo "no report")
  rows+=("$(awk -F', *' -v f="$f" -v o="$o" -v e="$e" -v label="$label" -v errors="$errors" -v dat="$tmp/$name.dat" '
    {b = int($1 / 1000 + 0.5); v[b] += $2; if (b > last) last = b}
    END {
      # bucket b holds the second (b - 1, b]; the last one may be cut short
      end = (e == "") ? last : e
      for (b = 1; b < last; b++) {
        printf "%d %d\n", b - f, v[b] > dat
        if (b >= 3 && b <= f) {bs += v[b]; bn++}
        if (b > f && b - 1 < end) {ds += v[b]; dn++; if (dmin == "" || v[b] < dmin) dmin = v[b]}
        if (e != "" && b - 1 >= e + 1) {as += v[b]; an++}
      }
      bm = bn ? bs / bn : 0; dm = dn ? ds / dn : 0
      printf "%-34s %8.0f %8.0f %8.0f %8s %6.2f %11s %s\n", label, bm, dm, dmin, an ? sprintf("%.0f", as / an) : "-",
        bm ? dm / bm : 0, (e == "") ? "not ended" : sprintf("%.1f", e - o), errors == "0" ? "" : "(fio error " errors ")"
    }' "$tmp/${name}_iops.1.log")")
  echo "${rows[-1]}" >&2
}

# vmstore_round NAME CAP: a cluster of its own (etcd, NAME1..NAME3, a gateway).
vmstore_round() {
  local name=$1 rcap=$2 pid f o e="" label
  label="vmstore, $([[ $rcap == 0 ]] && echo "no recovery cap" || echo "cap $rcap MiB/s per node")"
  echo "== $label: etcd, 3 nodes (R = 2), a gateway" >&2
  vmstore_cluster "$name" 3 "$size"
  "$bin" cluster config --etcd "$etcd_url" --recovery-mib-per-s "$rcap" >/dev/null
  sleep 3  # the gateway's checkpoint puts the fill into the containers
  load_start "$name" --ioengine=nbd --uri="$gw_uri" --size="$size"
  sleep "$before"
  pid=$(pgrep -f -- "node serve .*--name ${name}3 ")
  f=$(since "$load_t0")
  kill -9 "$pid"
  for _ in $(seq 1 80); do  # its lease (2 s) runs out
    "$bin" --json cluster status --etcd "$etcd_url" |
      jq -e --arg n "${name}3" '.nodes[] | select(.name == $n) | .state == "down"' >/dev/null && break
    sleep 0.25
  done
  "$bin" node remove "${name}3" --etcd "$etcd_url" >&2
  o=$(since "$load_t0")
  for _ in $(seq 1 $((max * 4))); do
    if "$bin" --json cluster status --etcd "$etcd_url" | jq -e '.moving == null' >/dev/null; then
      e=$(since "$load_t0")
      break
    fi
    sleep 0.25
  done
  sleep 6
  load_stop
  report "$name" "$label" "$f" "$o" "$e"
  vmstore_cluster_stop
}

vmstore_round free 0
vmstore_round capped "$cap"

echo "== ceph rbd: a monitor, a manager, 3 OSDs (BlueStore on files), pool size 2" >&2
ceph_start "$tmp/ceph" 3 2 mgr
ceph_image b "$size"
for _ in $(seq 1 120); do
  ceph_all_clean && break
  sleep 0.5
done
ceph_settings=$(for k in osd_max_backfills osd_recovery_max_active_hdd osd_recovery_max_active_ssd osd_recovery_sleep_hdd \
  osd_recovery_sleep_ssd bluestore_prefer_deferred_size; do
  printf "%s=%s " "$k" "$(ceph daemon osd.0 config get "$k" 2>/dev/null | jq -r ".$k")"
done)
load_start ceph --ioengine=rbd --clientname=admin --pool=rbd --rbdname=b
sleep "$before"
f=$(since "$load_t0")
kill -9 "$(ceph_osd_pid 2)"
cephc osd down 2 >/dev/null
cephc osd out 2 >/dev/null
o=$(since "$load_t0")
e=""
seen_dirty=0
for _ in $(seq 1 $((max * 4))); do
  if ceph_all_clean; then
    # the take-out must have reached the placement groups first (or 10 s gone)
    if ((seen_dirty)) || (($(echo "$(since "$load_t0") - $o > 10" | bc))); then
      e=$(since "$load_t0")
      break
    fi
  else
    seen_dirty=1
  fi
  sleep 0.25
done
sleep 6
load_stop
report ceph "ceph rbd, recovery settings as shipped" "$f" "$o" "$e"

echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) cores;" \
  "fio 2 KiB 67 % reads random QD16 on a $size disk; one of 3 nodes / OSDs killed -9 and taken out at 10 s"
printf "%-34s %8s %8s %8s %8s %6s %11s\n" "store, recovery setting" before during "worst 1s" after ratio "recovery s"
printf "%s\n" "${rows[@]}"
echo "ratio: the load's mean IOPS during the recovery / before the failure; recovery s: from the take-out to two copies of everything"
echo "ceph's recovery settings (osd.0): $ceph_settings"
if [[ -n $plot ]]; then
  gnuplot <<EOF
set terminal pngcairo size 900,420 font ",10"
set output "$plot"
set xlabel "seconds since one of the 3 nodes was killed -9"
set ylabel "the load's IOPS (fio 2 KiB, 67 % reads, QD16)"
set key top right
set yrange [0:*]
set grid
plot "$tmp/free.dat" with lines lw 2 title "vmstore, no recovery cap", \
     "$tmp/capped.dat" with lines lw 2 title "vmstore, cap $cap MiB/s per node", \
     "$tmp/ceph.dat" with lines lw 2 title "ceph rbd, as shipped"
EOF
  echo "plot: $plot" >&2
fi
