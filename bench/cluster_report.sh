#!/usr/bin/env bash
# Runs the cluster benchmarks - each measures a VMStore cluster beside Ceph
# RBD on this machine in one run - and rewrites docs/CLUSTER_BENCHMARKS.md from
# their output (keeping its last section, "Measured once", as it is), with
# the recovery plot in docs/img/cluster_recovery.png.
#   cluster_bench.sh      the paper's load: pool, gateway, Ceph RBD
#   recovery_bench.sh     the load through a node's failure and the recovery
#   cluster_snap_bench.sh a 2 MiB read after each of many snapshots; clones of clones
#   cluster_iozone.sh     one request at a time against the record size
#   cluster_scaling.sh    1, 2, 4 nodes x 1, 2, 4 gateways, shaped links
#   boot_storm.sh         clones of a Debian image replaying a boot's reads together
# Usage: bash bench/cluster_report.sh [--quick]   (root; about 75 minutes,
#   --quick about 30; installs ceph and qemu-system-x86 if missing; the
#   first run also makes the boot storm's Debian image with debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
case ${1:-} in
  --quick) quick=(--quick) ;;
  "") ;;
  *) echo "usage: bash bench/cluster_report.sh [--quick]" >&2; exit 1 ;;
esac
doc=docs/CLUSTER_BENCHMARKS.md
kept=$(awk '/^## Measured once/ {p = 1} p' "$doc" 2>/dev/null || true)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
secs=20
((${#quick[@]} == 0)) || secs=8
bash bench/cluster_bench.sh --seconds "$secs" | tee "$work/paper"
bash bench/recovery_bench.sh --plot docs/img/cluster_recovery.png | tee "$work/recovery"
bash bench/cluster_snap_bench.sh "${quick[@]}" | tee "$work/snap"
bash bench/cluster_iozone.sh "${quick[@]}" | tee "$work/iozone"
bash bench/cluster_scaling.sh "${quick[@]}" | tee "$work/scaling"
bash bench/boot_storm.sh "${quick[@]}" | tee "$work/boot"

# ratio FILE KEY STORE: the figure after "KEY" ... "STORE " on the line holding KEY
ratio() { grep -o "$2[^;]*" "$work/$1" | sed -nE "s/.*$3 ([0-9.]+).*/\1/p" | head -1; }
met() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN {print (v != "" && v >= lo && v <= hi) ? "yes" : "no"}'; }
g_c=$(sed -nE 's/.*gateway \/ ceph rbd ([0-9.]+).*/\1/p' "$work/paper")
s12=$(ratio snap "snapshot 12 / 1" vmstore)
c12=$(ratio snap "snapshot 12 / 1" ceph)
count=$(sed -nE 's/.*snapshot ([0-9]+) \/ 1:.*/\1/p' "$work/snap" | tail -1)
sn=$(ratio snap "snapshot $count / 1" vmstore)
cn=$(ratio snap "snapshot $count / 1" ceph)
d3=$(ratio snap "clone depth 3 / base" vmstore)
cd3=$(ratio snap "clone depth 3 / base" ceph)
# the boot storm: the most clones, 3 nodes against 1, and 3 nodes' p99 / p50
storm_n=$(awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ {n = $2} END {print n}' "$work/boot")
storm_x=$(sed -nE "s/^$storm_n clones: 3 nodes \/ 1 node aggregate MB\/s ([0-9.]+).*/\1/p" "$work/boot")
storm_tail=$(awk -v n="$storm_n" '$1 == 3 && $2 == n {print $6}' "$work/boot")

cat >"$doc" <<EOF
# Cluster benchmarks

Every figure here was printed by a benchmark in \`bench/\` in one run on this project's machine
kind (2 cores, 24 GiB, a virtio disk; shared with other work, so figures move by about ±5 %
between runs, more under load). Each benchmark sets up a VMStore cluster - a real etcd, 3
storage nodes with two copies of every block (R = 2) and a gateway serving NBD - and Ceph RBD
from Debian's packages (ceph 16: a monitor, 3 BlueStore OSDs on 4 GiB files, a pool of size 2)
with the same number of nodes and copies, all on loopback, and measures both with the same
client (fio's \`nbd\` and \`rbd\` engines, qemu-io). Nothing is typed in by hand:
\`bash bench/cluster_report.sh\` rewrites this file (\`--quick\`: shorter runs, 100 snapshots).
Commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%d), kernel $(uname -r),
$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //').

## The snapshot paper's load (\`bench/cluster_bench.sh\`)

fio, 2 KiB requests, 67 % reads, 100 % random, iodepth 16, on a 1 GiB disk filled with random
data, through VMStore's single-node pool (\`vmstore serve\`), the cluster's gateway and Ceph RBD;
each store twice, alternating, the better run kept.

\`\`\`
$(cat "$work/paper")
\`\`\`

On one 2-core machine every gateway request crosses loopback TCP once more than the pool's (and
writes twice, one per replica), and the three node processes, the gateway, etcd and fio share
the two cores; on separate hosts each node has cores of its own.

## A node lost under load (\`bench/recovery_bench.sh\`)

The same load runs throughout; 10 s in, one of the 3 nodes (one of the 3 OSDs) is killed -9 and
taken out at once (\`vmstore node remove\` once its 2 s lease has run out; \`ceph osd down\` and
\`ceph osd out\`), so the two survivors copy what it held until every block has two copies again.
VMStore runs twice: with no recovery cap (its default) and with a cap per receiving node
(\`vmstore cluster config --recovery-mib-per-s\`); Ceph with its recovery settings as shipped
(printed below). "during" is the mean of the seconds from the kill to the last copy, "worst 1s"
the slowest of them.

\`\`\`
$(cat "$work/recovery")
\`\`\`

![IOPS per second around the failure](img/cluster_recovery.png)

## A 2 MiB read after each snapshot, and through clones of clones (\`bench/cluster_snap_bench.sh\`)

The VMStore article's experiment: a 2 MiB read after each of 12 successive snapshots, here
carried on to $count, and then through a clone of a clone of a clone. Each step writes 64 KiB at
a seeded random offset and takes a snapshot (the CLI against the running gateway; \`rbd snap
create\`); at the marked counts, 100 random 2 MiB reads at queue depth 1 (fio) give the median and
99th percentile. The clones: VMStore \`vm clone\` of the newest snapshot, then of a snapshot of
that clone, twice; Ceph \`rbd snap protect\` and \`rbd clone\` the same way (its clones read what
they do not hold from their parent, and it from its own).

\`\`\`
$(cat "$work/snap")
\`\`\`

## One request at a time against the record size (\`bench/cluster_iozone.sh\`)

The article's IOZone runs: sequential and random writes and reads of one client at queue depth
1, record sizes 4 KiB to 1 MiB, on a 1 GiB disk filled first, in MB/s.

\`\`\`
$(cat "$work/iozone")
\`\`\`

## Scaling with nodes and gateways (\`bench/cluster_scaling.sh\`)

Every storage node and gateway in a network namespace of its own on one bridge, each node's
link shaped both ways with \`tc tbf\` so that the number of nodes shows on one host (the
gateways' links are not shaped). A gateway serves whole SRs, so each gateway has a cluster SR
of its own with one 256 MiB disk; with G gateways, G clients run together and their figures
add. On this 2-core machine every process shares the same two cores: the random 2 KiB load is
bounded by them, the 1 MiB reads by the shaped links.

\`\`\`
$(cat "$work/scaling")
\`\`\`

## Boot storm (\`bench/boot_storm.sh\`)

The article's first experiment: clones of one golden image booting at once. The image is
Debian bookworm (debootstrap minbase with systemd, udev and the cloud kernel); its boot's read
set was recorded from a real boot under \`qemu-system-x86_64\` (TCG) with nbdkit's log filter
in front of the image, every read until the login prompt, in order (the boot's writes are not
replayed). Each clone replays it through its own NBD connection (fio \`read_iolog\`, as fast
as it completes, iodepth 4), all clones together, through one gateway; the gateway restarted
and the host's page cache dropped before each count. Nodes and the gateway in network
namespaces, each node's link shaped both ways.

\`\`\`
$(cat "$work/boot")
\`\`\`

## Goals (issue 23)

| goal | measured | met |
|---|---|---|
| boot storm of 50 clones: 3 nodes at least 2.5 x 1 node (shaped links) | ${storm_n:-?} clones: ${storm_x:-?} x | $( [[ $storm_n == 50 ]] && met "$storm_x" 2.5 1e9 || echo "no (not 50 clones)") |
| ... per-clone p99 at most 1.5 x p50 (3 nodes) | ${storm_tail:-?} | $( [[ $storm_n == 50 ]] && met "$storm_tail" 0 1.5 || echo "no (not 50 clones)") |
| 2 MB read latency at snapshot 12 within 10 % of snapshot 1 | p50 ratio ${s12:-?} (Ceph RBD ${c12:-?}) | $(met "$s12" 0 1.10) |
| ... and at snapshot $count | p50 ratio ${sn:-?} (Ceph RBD ${cn:-?}) | $(met "$sn" 0 1.10) |
| through a clone of a clone of a clone within 10 % of the base disk | p50 ratio ${d3:-?} (Ceph RBD ${cd3:-?}) | $(met "$d3" 0 1.10) |
| the paper's load through a gateway on 3 nodes (R = 2) at least 10 x Ceph RBD's IOPS | ${g_c:-?} x | $(met "$g_c" 10 1e9) |
EOF
[[ -z $kept ]] || printf '\n%s\n' "$kept" >>"$doc"
echo "wrote $doc" >&2
