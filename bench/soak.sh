#!/usr/bin/env bash
# Load and soak (issue 7, bench mode): `vmstore serve` on a native pool with 8
# fio clients at once (one NBD connection and one 1 GiB disk each, 4 KiB
# random, 70 % reads, iodepth 8), a snapshot of the VM (all 8 disks) every
# 5 s through the CLI, and the oldest deleted past a rolling window of 12.
# Every second it records the server's RSS; fio logs each client's IOPS per
# second. At the end: fsck must be clean, and with every snapshot deleted the
# pool's physical size must match what its disks reference.
# Writes soak_iops.csv, soak_rss.csv, soak.png and soak.md to DIR.
# Usage: bash bench/soak.sh [--minutes M (10)] [--out DIR (soak-out)]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=10 out=soak-out
while (($#)); do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bash bench/soak.sh [--minutes M] [--out DIR]" >&2; exit 1 ;;
  esac
done
((minutes >= 1 && minutes <= 10)) || { echo "soak: --minutes must be 1 to 10" >&2; exit 1; }
bin=$PWD/build/vmstore
source bench/lib.sh
mkdir -p "$out"
out=$(cd "$out" && pwd)
bench_tmpdir soak
export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null
"$bin" vm create soak >/dev/null
jobs=()
for i in 1 2 3 4 5 6 7 8; do
  "$bin" disk create soak "d$i" --size 1G >/dev/null
  jobs+=(--name="c$i" --uri="nbd://127.0.0.1:10915/soak/d$i" --write_iops_log="$tmp/c$i" --log_avg_msec=1000)
done
"$bin" serve --listen 127.0.0.1:10915 >"$tmp/serve.log" 2>&1 &
server=$!
bench_wait_port nbd://127.0.0.1:10915/soak/d1
# Fill the disks first, so reads hit data and snapshots share it.
for i in 1 2 3 4 5 6 7 8; do nbdcopy --flush -- [ nbdkit --exit-with-parent pattern size=1G ] "nbd://127.0.0.1:10915/soak/d$i"; done

secs=$((minutes * 60))
echo "# soak: 8 clients, ${minutes} min, a snapshot every 5 s (window 12)"
fio --ioengine=nbd --rw=randrw --rwmixread=70 --bs=4k --iodepth=8 --size=1G --time_based --runtime="$secs" \
  --group_reporting "${jobs[@]}" >"$tmp/fio.log" 2>&1 &
fio_pid=$!
start=$(date +%s)
echo "second,rss_kib,snapshots" >"$out/soak_rss.csv"
echo "op,ms" >"$out/soak_ops.csv"
snaps=() taken=0 deleted=0 failed=0 last_snap=$start
while kill -0 "$fio_pid" 2>/dev/null; do
  now=$(date +%s)
  ((now - start > secs + 60)) && { echo "soak: fio overran its time" >&2; kill "$fio_pid"; break; }
  if ((now - last_snap >= 5)); then
    last_snap=$now
    t0=$(date +%s%N)
    if name=$("$bin" snapshot create soak "t$taken" 2>&1 | sed -n 's/^created snapshot soak@\([^ ]*\) .*/\1/p') &&
      [[ -n $name ]]; then
      snaps+=("$name") taken=$((taken + 1))
    else
      failed=$((failed + 1))
    fi
    echo "create,$(((($(date +%s%N) - t0)) / 1000000))" >>"$out/soak_ops.csv"
    if ((${#snaps[@]} > 12)); then
      t0=$(date +%s%N)
      if "$bin" snapshot delete "soak@${snaps[0]}" >/dev/null 2>&1; then deleted=$((deleted + 1)); else failed=$((failed + 1)); fi
      echo "delete,$(((($(date +%s%N) - t0)) / 1000000))" >>"$out/soak_ops.csv"
      snaps=("${snaps[@]:1}")
    fi
  fi
  echo "$((now - start)),$(ps -o rss= -p "$server" | tr -d ' '),${#snaps[@]}" >>"$out/soak_rss.csv"
  sleep 1
done
wait "$fio_pid" || true
grep -E 'read:|write:' "$tmp/fio.log" | sed 's/^ */# /'

# IOPS per second over all clients: fio logs "msec, iops, dir, ..." per job.
cat "$tmp"/c*_iops.*.log | awk -F', *' '{s = int($1 / 1000); t[s] += $2} END {for (k in t) print k "," t[k]}' |
  sort -n -t, -k1 | sed '1i second,iops' >"$out/soak_iops.csv"

for s in "${snaps[@]}"; do "$bin" snapshot delete "soak@$s" >/dev/null; done
kill -TERM "$server"
wait "$server"
server=
fsck=$("$bin" fsck 2>&1) && fsck_ok=1 || fsck_ok=0
read -r live phys < <("$bin" --json status | jq -r '.srs[0] | "\(.live_bytes) \(.physical_bytes)"')

report() {
  awk -F, -v live="$live" -v phys="$phys" -v fsck="$fsck_ok" -v taken="$taken" -v deleted="$deleted" \
    -v failed="$failed" -v iops_file="$out/soak_iops.csv" -v ops_file="$out/soak_ops.csv" '
    NR > 1 { n++; sec[n] = $1; rss[n] = $2 }
    END {
      # RSS plateau: the last third stays within 10 % of the middle third.
      for (i = 1; i <= n; i++) {
        if (i > n / 3 && i <= 2 * n / 3 && rss[i] > mid) mid = rss[i]
        if (i > 2 * n / 3 && rss[i] > last) last = rss[i]
      }
      while ((getline line < iops_file) > 0) {
        split(line, f, ","); if (f[1] == "second") continue
        m++; v[m] = f[2]; sum += f[2]; if (min == "" || f[2] < min) min = f[2]; if (f[2] > max) max = f[2]
      }
      printf "## Soak (%d s, 8 clients, a snapshot every 5 s, window 12)\n\n", sec[n]
      printf "| figure | value |\n|---|---|\n"
      while ((getline line < ops_file) > 0) {
        split(line, f, ","); if (f[1] == "op") continue
        cnt[f[1]]++; tot[f[1]] += f[2]; if (f[2] > top[f[1]]) top[f[1]] = f[2]
      }
      printf "| snapshots taken / deleted / failed commands | %d / %d / %d |\n", taken, deleted, failed
      printf "| snapshot create, ms: mean / max | %.0f / %d |\n", cnt["create"] ? tot["create"] / cnt["create"] : 0, top["create"]
      printf "| snapshot delete, ms: mean / max | %.0f / %d |\n", cnt["delete"] ? tot["delete"] / cnt["delete"] : 0, top["delete"]
      printf "| IOPS per second, all clients: mean / min / max | %.0f / %d / %d |\n", m ? sum / m : 0, min, max
      printf "| server RSS, max of middle third / last third | %.1f / %.1f MiB |\n", mid / 1024, last / 1024
      printf "| RSS plateaus (last third <= 1.10 x middle third) | %s |\n", last <= 1.10 * mid ? "met" : "NOT met"
      printf "| fsck after the run | %s |\n", fsck ? "clean" : "PROBLEMS"
      printf "| live / physical after deleting every snapshot | %.1f / %.1f MiB (%.4f) |\n", \
        live / 1048576, phys / 1048576, live ? phys / live : 0
      printf "| space accounted (physical <= 1.01 x live + 1 MiB) | %s |\n", \
        phys <= 1.01 * live + 1048576 ? "met" : "NOT met"
    }' "$out/soak_rss.csv"
}
report | tee "$out/soak.md"
[[ $fsck_ok == 1 ]] || echo "$fsck"
if command -v gnuplot >/dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 900,600 noenhanced
set output "$out/soak.png"
set datafile separator ","
set multiplot layout 2,1 title "vmstore soak: 8 fio clients, a snapshot every 5 s"
set ylabel "IOPS (all clients)"
set key off
plot "$out/soak_iops.csv" every ::1 using 1:2 with lines lw 2
set xlabel "second"
set ylabel "server RSS (MiB)"
plot "$out/soak_rss.csv" every ::1 using 1:(\$2/1024) with lines lw 2
unset multiplot
EOF
fi
