#!/usr/bin/env bash
# A 3-node VMStore cluster on this machine: installs and builds, then starts an
# etcd, three storage nodes (two replicas of everything) and a gateway, all on
# loopback, makes a demo VM with a 1 GiB disk and 20 clones of its snapshot,
# and serves them over NBD until Ctrl-C / SIGTERM (which stops everything).
# Usage: bash scripts/cluster_demo.sh [DIR] [NBD_LISTEN]   (defaults /var/lib/vmstore/cluster-demo, 127.0.0.1:10810)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
dir=${1:-/var/lib/vmstore/cluster-demo}
listen=${2:-127.0.0.1:10810}
vmstore=$PWD/build/vmstore
mkdir -p "$dir"
chmod 700 "$dir"
pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for FILE PATTERN: up to 10 s
  for _ in $(seq 1 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "timed out waiting for '$2' in $1" >&2
  cat "$1" >&2
  exit 1
}

cport=$(free_port)
pport=$(free_port)
export VMSTORE_ETCD=http://127.0.0.1:$cport
etcd --data-dir "$dir/etcd" --listen-client-urls "$VMSTORE_ETCD" --advertise-client-urls "$VMSTORE_ETCD" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "default=http://127.0.0.1:$pport" \
  --auto-compaction-mode revision --auto-compaction-retention 1000 >"$dir/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -s -m 1 "$VMSTORE_ETCD/version" >/dev/null && break; sleep 0.1; done
"$vmstore" cluster status >/dev/null 2>&1 || "$vmstore" cluster init --replicas 2
for n in node1 node2 node3; do
  "$vmstore" node serve --listen 127.0.0.1:0 --data "$dir/$n" --name "$n" >"$dir/$n.log" 2>&1 &
  pids+=($!)
  wait_for "$dir/$n.log" "node: serving"
done
"$vmstore" cluster status
if ! "$vmstore" vm show demo >/dev/null 2>&1; then
  "$vmstore" vm create demo
  "$vmstore" disk create demo disk0 --size 1G
fi
export VMSTORE_GATEWAY_DIR=$dir/gateway
"$vmstore" serve --listen "$listen" >"$dir/gateway.log" 2>&1 &
pids+=($!)
wait_for "$dir/gateway.log" "nbd://"
if ! "$vmstore" vm show desk1 >/dev/null 2>&1; then
  qemu-io -f raw -c "write -P 0x5a 0 16M" -c flush "nbd://$listen/demo/disk0" >/dev/null
  "$vmstore" snapshot create demo golden
  full=$("$vmstore" --json snapshot list demo | jq -r '.[0].full_name')
  for i in $(seq 1 20); do "$vmstore" vm clone "demo@$full" "desk$i" >/dev/null; done
fi
"$vmstore" vm list
"$vmstore" node list
cat <<EOT

A cluster of 3 nodes (etcd $VMSTORE_ETCD) and a gateway on nbd://$listen. Try:
  qemu-img info nbd://$listen/desk1/disk0
  VMSTORE_ETCD=$VMSTORE_ETCD VMSTORE_GATEWAY_DIR=$VMSTORE_GATEWAY_DIR $vmstore status
Logs are in $dir. Ctrl-C stops the gateway, the nodes and etcd.
EOT
wait "${pids[-1]}"
