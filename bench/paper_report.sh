#!/usr/bin/env bash
# Draws the plots and writes the report of a bench/paper.sh run from its CSV
# files, so both can be remade without measuring again.
#
# Usage: bash bench/paper_report.sh DIR [--update-docs]
#   DIR holds paper.csv, paper_ops.csv, paper_read2m.csv and paper_lookup.csv.
#   Writes DIR/paper_{iops,mbps,latency,create,ops,read2m,lookup}.png and
#   DIR/paper.md (tables and the goals, met or not, computed from the CSVs).
#   --update-docs puts paper.md into docs/BENCHMARKS.md between the
#   "paper.sh begin/end" markers (appending them if absent); DIR must then be
#   docs/img, where the document's image links point.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: bash bench/paper_report.sh DIR [--update-docs]}
update=0
[[ ${2:-} == --update-docs ]] && update=1
if ((update)) && [[ $(realpath "$dir") != $(realpath docs/img) ]]; then
  echo "--update-docs needs DIR = docs/img (the document links its plots there)" >&2
  exit 1
fi
csv=$dir/paper.csv ops_csv=$dir/paper_ops.csv read_csv=$dir/paper_read2m.csv lookup_csv=$dir/paper_lookup.csv
for f in "$csv" "$ops_csv" "$read_csv" "$lookup_csv"; do
  [[ -f $f ]] || { echo "missing $f (run bench/paper.sh)" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }

data() { grep -v '^#' "$1" | tail -n +2; }  # rows without the header lines
date=$(sed -n 's/^# date \([0-9-]*\)T.*/\1/p' "$csv")
size=$(sed -n '1s/.*iodepth 16, \([0-9]*G\) disk.*/\1/p' "$csv")
stamp="$date, $size disk, fio nbd 2 KiB 67 % reads random iodepth 16"

# One plot per figure of the paper (steady state), one line per system.
plot() {  # COLUMN TITLE YLABEL FILE
  local s cmd=""
  for s in $(data "$csv" | cut -d, -f1 | awk '!seen[$0]++'); do
    grep -q "^$s,.*,steady," "$csv" || continue
    [[ $1 == 7 && $s == raw ]] && continue
    cmd+="${cmd:+, }\"< grep '^$s,.*,steady,' $csv\" using (\$2 == 0 ? 0.5 : \$2):$1 with linespoints title '$s'"
  done
  gnuplot <<EOF
set terminal pngcairo size 1000,560 noenhanced
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
plot 4 "IOPS against snapshots (steady state)" "IOPS" "$dir/paper_iops.png"
plot 5 "MB/s against snapshots (steady state)" "MB/s" "$dir/paper_mbps.png"
plot 6 "Mean response time against snapshots (steady state)" "microseconds" "$dir/paper_latency.png"
plot 7 "Taking one snapshot through the CLI (mean over the snapshots added before each point)" "ms" \
  "$dir/paper_create.png"

# Snapshot operations: one panel per operation, one line per system and way.
lines() {  # OP -> the plot clauses of every system,via that has OP
  local key cmd=""
  for key in $(data "$ops_csv" | awk -F, -v o="$1" '$3 == o {print $1 "," $4}' | awk '!seen[$0]++'); do
    cmd+="${cmd:+, }\"< grep '^${key%,*},[0-9]*,$1,${key#*,},' $ops_csv\" using (\$2 == 0 ? 0.5 : \$2):5 with linespoints title '${key/,/ }'"
  done
  echo "$cmd"
}
gnuplot <<EOF
set terminal pngcairo size 1200,900 noenhanced
set output '$dir/paper_ops.png'
set datafile separator ','
set multiplot layout 2,2 title "Snapshot operations against snapshots (ms, log scales; 0 plotted at 0.5)\\n$date, $size disk"
set logscale xy
set grid
set key below horizontal maxrows 3 font ',8'
set xlabel 'snapshots'
set ylabel 'ms'
set title 'create'
plot $(lines create)
set title 'clone'
plot $(lines clone)
set title 'rollback'
plot $(lines rollback)
set title 'delete'
plot $(lines delete)
unset multiplot
EOF
gnuplot <<EOF
set terminal pngcairo size 1000,560 noenhanced
set output '$dir/paper_read2m.png'
set datafile separator ','
set title "VMStore native, in-process: one 2 MiB read after each snapshot\\n$date, $size disk, 16 scattered 4 KiB writes between snapshots"
set xlabel 'snapshots taken before the read'
set ylabel 'microseconds'
set grid
plot '$read_csv' using 2:3 with points pt 7 ps 0.4 title '2 MiB read', \
     '$read_csv' using 2:3 smooth bezier lw 2 title 'trend (Bezier)'
EOF
gnuplot <<EOF
set terminal pngcairo size 1000,560 noenhanced
set output '$dir/paper_lookup.png'
set datafile separator ','
set title "Snapshot lookup (median): binary search against a linear scan\\n$date, in memory, sorted by time"
set xlabel 'snapshots'
set ylabel 'microseconds'
set logscale xy
set grid
set key top left
plot "< grep ',name,' $lookup_csv" using 1:3 with linespoints title 'by name, binary search', \
     "< grep ',name,' $lookup_csv" using 1:5 with linespoints title 'by name, linear scan', \
     "< grep ',time,' $lookup_csv" using 1:3 with linespoints title 'by time, binary search', \
     "< grep ',time,' $lookup_csv" using 1:5 with linespoints title 'by time, linear scan'
EOF

# pivot FILE KEYCOLS VALUE_EXPR FILTER: a markdown table, one row per key
# (columns KEYCOLS joined by " "), one column per snapshot count (column 2).
pivot() {
  data "$1" | awk -F, -v keys="$2" -v filter="$4" -v fmt="$3" '
    BEGIN { nk = split(keys, kc, " "); if (filter != "") { split(filter, f, "="); fcol = f[1]; fval = f[2] } }
    {
      if (fcol && $fcol != fval) next
      k = $kc[1]; for (i = 2; i <= nk; i++) k = k " " $kc[i]
      if (!(k in seenk)) { seenk[k] = 1; order[++nrows] = k }
      if (!($2 in seenn)) { seenn[$2] = 1; ns[++ncols] = $2 + 0 }
      v = (fmt == "iops") ? sprintf("%d (%.0f)", $4, $6) : ($5 < 10 ? sprintf("%.2f", $5) : sprintf("%.0f", $5))
      cell[k, $2 + 0] = v
    }
    END {
      # snapshot counts ascending
      for (i = 1; i <= ncols; i++) for (j = i + 1; j <= ncols; j++) if (ns[j] < ns[i]) { t = ns[i]; ns[i] = ns[j]; ns[j] = t }
      line = "| system |"; sep = "|---|"
      for (i = 1; i <= ncols; i++) { line = line " " ns[i] " |"; sep = sep "---:|" }
      print line; print sep
      for (r = 1; r <= nrows; r++) {
        line = "| " order[r] " |"
        for (i = 1; i <= ncols; i++) line = line " " (((order[r], ns[i]) in cell) ? cell[order[r], ns[i]] : "") " |"
        print line
      }
    }'
}
# value FILE AWK_CONDITION COLUMN: the first matching row's column ("" if none).
# The first matching row's field (awk reads to the end: an early exit would
# kill the writer with SIGPIPE, which pipefail turns into a failure).
value() { data "$1" | awk -F, "!found && $2 {print \$$3; found = 1}"; }
max_n=$(data "$csv" | awk -F, '$1 == "vmstore_native" && $2 > m {m = $2} END {print m + 0}')
chain_n=$(data "$csv" | awk -F, '$1 == "qcow2_chain" && $2 <= 200 && $2 > m {m = $2} END {print m + 0}')
native0=$(value "$csv" '$1 == "vmstore_native" && $2 == 0 && $3 == "steady"' 4)
nativeN=$(value "$csv" "\$1 == \"vmstore_native\" && \$2 == $max_n && \$3 == \"steady\"" 4)
nativeC=$(value "$csv" "\$1 == \"vmstore_native\" && \$2 == $chain_n && \$3 == \"steady\"" 4)
chainC=$(value "$csv" "\$1 == \"qcow2_chain\" && \$2 == $chain_n && \$3 == \"steady\"" 4)
nativeA=$(value "$csv" "\$1 == \"vmstore_native\" && \$2 == $chain_n && \$3 == \"after\"" 4)
chainA=$(value "$csv" "\$1 == \"qcow2_chain\" && \$2 == $chain_n && \$3 == \"after\"" 4)
raw=$(value "$csv" '$1 == "raw"' 4)
cli_create=$(data "$ops_csv" | awk -F, '$1 == "vmstore_native" && $3 == "create" && $4 == "cli" && $5 > m {m = $5; n = $2} END {printf "%.1f ms (at %d)", m, n}')
cli_mean=$(data "$csv" | awk -F, '$1 == "vmstore_native" && $7 != "" && $7 > m {m = $7; n = $2} END {printf "%.1f ms (at %d)", m, n}')
inproc=$(data "$ops_csv" | awk -F, '$1 == "vmstore_native" && $3 == "create" && $4 == "inprocess" && $5 > m {m = $5; n = $2} END {printf "%.3f ms (at %d)", m, n}')
ratio() { awk -v a="$1" -v b="$2" -v g="$3" 'BEGIN {if (a == "" || b == "" || b == 0) {print "not measured"; exit} printf "%.3f: %s", a / b, (a / b >= g) ? "met" : "NOT met"}'; }
under() { awk -v v="$1" -v g="$2" 'BEGIN {print (v + 0 < g) ? "met" : "NOT met"}'; }
read12=$(data "$read_csv" | awk -F, '$2 >= 1 && $2 <= 12 {print $3}' | sort -n | awk '{v[NR] = $1} END {printf "%.0f", v[int((NR + 1) / 2)]}')
readlast=$(data "$read_csv" | awk -F, -v n="$max_n" '$2 > n - 12 {print $3}' | sort -n | awk '{v[NR] = $1} END {printf "%.0f", v[int((NR + 1) / 2)]}')

{
  echo "Measured by \`bench/paper.sh\` ($(sed -n '1s/^# bench\/paper.sh *\([^:]*\):.*/\1/p' "$csv" | sed 's/^$/full mode/')), report and plots by \`bench/paper_report.sh\`:"
  sed -n 's/^# \(date .*\)/\1./p; s/^# \(machine: .*\)/\1./p; s/^# \(versions: .*\)/\1./p' "$csv" | sed 's/^/- /'
  echo "- Load: $(sed -n '1s/^[^:]*: //p' "$csv"); $(sed -n '2s/^# //p' "$csv")."
  echo
  echo "![IOPS](img/paper_iops.png)"
  echo "![MB/s](img/paper_mbps.png)"
  echo "![mean response time](img/paper_latency.png)"
  echo
  echo "Steady-state IOPS (mean response time in µs) against the number of snapshots:"
  echo
  pivot "$csv" "1" iops "3=steady"
  echo
  echo "How to read it. The paper's claim is the contrast of two lines: \`qcow2_chain\` (a backing chain,"
  echo "one more image to consult for every block an overlay does not hold) against the chain-free"
  echo "designs (\`vmstore_native\`, whose every snapshot has a full index; \`qcow2_internal\`, one"
  echo "refcounted file). The file-backed SR types (\`vmstore_reflink_xfs\`, \`vmstore_btrfs\`,"
  echo "\`vmstore_zfs\`) measure the file system underneath: VMStore passes their requests to one"
  echo "file with no index of its own, so reflink on XFS, with the whole disk in the page cache, is"
  echo "faster than the native engine, which checksums, logs and indexes every write; zfs-fuse is a"
  echo "FUSE daemon (every request crosses into user space twice). They stop at $(data "$csv" | awk -F, '$1 == "vmstore_btrfs" && $2 > m {m = $2} END {print m + 0}') snapshots (see"
  echo "\`PAPER_SR_MAX\` in \`bench/paper.sh\`); \`raw\` has no snapshots and is drawn flat as the limit."
  echo
  echo "Straight after the snapshots (first writes into shared clusters copy them):"
  echo
  pivot "$csv" "1" iops "3=after"
  echo
  echo "### Snapshot operations"
  echo
  echo "One extra snapshot at each N: create it, clone a VM from it (and delete the clone), roll"
  echo "back to it, delete it. \`cli\`: as a user calls them (\`vmstore\` against the running server,"
  echo "including process start; \`qemu-img\` for qcow2, whose chain clone/rollback are new overlays,"
  echo "delete a \`qemu-img commit\`, and whose internal-snapshot clone is a full copy); \`inprocess\`:"
  echo "the Manager API (catalog and engine, every step durable), median of 21 cycles. Milliseconds."
  echo "The CLI cycle runs straight after a fio run, so its create also makes that run's unflushed"
  echo "writes durable (a snapshot holds every write acknowledged before it); the create plot below is"
  echo "the mean over the snapshots taken between scattered writes before each point."
  echo
  echo "![operations](img/paper_ops.png)"
  echo "![create](img/paper_create.png)"
  echo
  for o in create clone rollback delete; do
    echo "**$o** (ms)"
    echo
    pivot "$ops_csv" "1 4" ms "3=$o"
    echo
  done
  echo "### A 2 MiB read after each snapshot (VMStore native, in-process)"
  echo
  echo "![2 MiB reads](img/paper_read2m.png)"
  echo
  echo "Median of the reads after snapshots 1-12: $read12 µs; after the last 12 (up to $max_n): $readlast µs."
  echo
  echo "### Snapshot lookup by name and by time"
  echo
  echo "![lookup](img/paper_lookup.png)"
  echo
  echo "| snapshots | by | binary search p50 µs | p99 µs | linear scan p50 µs | p99 µs |"
  echo "|---:|---|---:|---:|---:|---:|"
  data "$lookup_csv" | awk -F, '{printf "| %d | %s | %.2f | %.2f | %.1f | %.1f |\n", $1, $2, $3, $4, $5, $6}'
  echo
  echo "### Goals (issue 6)"
  echo
  echo "Against the chain, both states are held to the goal: right after the snapshots a read of a"
  echo "cluster the top overlay lacks descends the chain image by image; in steady state the top"
  echo "overlay holds every cluster, so the chain's reads stop at the top and only its metadata grows."
  echo
  echo "| goal | measured | result |"
  echo "|---|---|---|"
  echo "| VMStore native IOPS at 1,000 snapshots >= 95 % of at 0 | at $max_n: $nativeN / $native0 | $( ((max_n >= 1000)) && ratio "$nativeN" "$native0" 0.95 || echo "not measured at 1,000 ($(ratio "$nativeN" "$native0" 0.95) at $max_n)") |"
  echo "| VMStore native at 1,000 snapshots >= 80 % of raw nbdkit | at $max_n: $nativeN / $raw | $( ((max_n >= 1000)) && ratio "$nativeN" "$raw" 0.8 || echo "not measured at 1,000 ($(ratio "$nativeN" "$raw" 0.8) at $max_n)") |"
  for state in steady after; do
    if [[ $state == steady ]]; then a=$nativeC b=$chainC; else a=$nativeA b=$chainA; fi
    echo "| >= 5x the IOPS of qcow2 chains at 200 snapshots ($state) | at $chain_n: $a / $b | $( ((chain_n >= 200)) && ratio "$a" "$b" 5 || echo "not measured at 200 ($(ratio "$a" "$b" 5) at $chain_n)") |"
  done
  echo "| CLI snapshot create under 20 ms at any N (process start included, server running) | slowest: $cli_create; slowest mean per stretch: $cli_mean | $(under "${cli_create%% *}" 20), $(under "${cli_mean%% *}" 20) |"
  echo "| in-process snapshot create under 1 ms with fsync | slowest median: $inproc | $(under "${inproc%% *}" 1) |"
} >"$dir/paper.md"

if ((update)); then
  doc=docs/BENCHMARKS.md
  grep -q '<!-- paper.sh begin -->' "$doc" ||
    printf '\n## The snapshot paper'"'"'s experiments (`bench/paper.sh`)\n\n<!-- paper.sh begin -->\n<!-- paper.sh end -->\n' >>"$doc"
  awk -v f="$dir/paper.md" '
    /<!-- paper.sh begin -->/ {print; while ((getline l < f) > 0) print l; skip = 1; next}
    /<!-- paper.sh end -->/ {skip = 0}
    !skip' "$doc" >"$doc.tmp"
  mv "$doc.tmp" "$doc"
fi
echo "# report: $dir/paper.md; plots: $dir/paper_*.png"
