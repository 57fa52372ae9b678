#!/usr/bin/env bash
# Cluster records and storage nodes against a real etcd (started here, on a
# free loopback port): cluster init, three `vmstore node serve` processes
# joining the ring, node list/show/status, a node killed with -9 going down
# when its lease ends and up again when restarted, and the refusals - a second
# init, a second node on a data directory, another cluster's directory, an
# unreachable etcd.
# Usage: cluster_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: cluster_test.sh VMSTORE_BINARY}
source "$(dirname "$0")/lib.sh"
require_tools etcd curl jq
use_tmp
source "$(dirname "$0")/cluster_lib.sh"
node_state() {  # node_state NAME: up or down, as node list --json says
  "$bin" --json node list --etcd "$etcd_url" | jq -r ".[] | select(.name == \"$1\") | .state"
}

start_etcd etcd1
check "no cluster yet: node list says how to make one" 1 "no VMStore cluster in this etcd \\(create one with: vmstore cluster init" -- \
  "$bin" node list --etcd "$etcd_url"
check "cluster init" 0 "created cluster [0-9a-f]{32} \\(2 replicas\\)" -- "$bin" cluster init --etcd "$etcd_url"
check "a second init is refused naming the cluster" 1 "already holds a VMStore cluster \\([0-9a-f]{32}\\)" -- \
  "$bin" cluster init --etcd "$etcd_url"
check "replicas are 1..3" 1 "--replicas 4: 1, 2 or 3" -- "$bin" cluster init --etcd "$etcd_url" --replicas 4
start_node n1 --zone a
start_node n2 --zone b
start_node n3 --zone c --weight 2
check "three nodes up" 0 "^3$" -- bash -c "'$bin' --json node list --etcd '$etcd_url' | jq '[.[] | select(.state == \"up\")] | length'"
check "node list shows address, zone, weight, state, containers, bytes and share" 0 "n3 +127.0.0.1:[0-9]+ +c +2 +up +0 +0 B +[0-9.]+%" -- \
  "$bin" node list --etcd "$etcd_url"
check "ring shares add up to the replicas (2)" 0 "^2(\\.0+)?$" -- \
  bash -c "'$bin' --json node list --etcd '$etcd_url' | jq '[.[].ring_share] | add * 100 | round / 100'"
check "the weight-2 node holds the largest share" 0 "^n3$" -- \
  bash -c "'$bin' --json node list --etcd '$etcd_url' | jq -r 'max_by(.ring_share).name'"
check "cluster status: epoch 3 after three joins" 0 "epoch +3" -- "$bin" cluster status --etcd "$etcd_url"
check "node show by name" 0 "zone +b" -- "$bin" node show n2 --etcd "$etcd_url"
addr=$("$bin" --json node show n2 --etcd "$etcd_url" | jq -r .address)
check "node show by address" 0 "name +n2" -- "$bin" node show "$addr" --etcd "$etcd_url"
check "an unknown node" 1 "no node named or at 'n9'" -- "$bin" node show n9 --etcd "$etcd_url"
check "VMSTORE_ETCD stands for --etcd" 0 "n1" -- env VMSTORE_ETCD="$etcd_url" "$bin" node list

check "a second node on the same data directory is refused" 1 "is in use by another vmstore node process" -- \
  "$bin" node serve --etcd "$etcd_url" --listen 127.0.0.1:0 --data "$tmp/data-n1" --name n1

# kill -9: the node's lease runs out (TTL 2 s) and it shows as down; it stays
# on the ring (its data is still its own), and comes back up when restarted.
{ kill -9 "${nodes[0]}"; wait "${nodes[0]}"; } 2>/dev/null
down=
for _ in $(seq 1 100); do
  [[ $(node_state n1) == down ]] && down=1 && break
  sleep 0.1
done
check "a killed node is down within its lease TTL" 0 "^1$" -- echo "${down:-0}"
check "and still on the ring (epoch unchanged)" 0 "epoch +3" -- "$bin" cluster status --etcd "$etcd_url"
start_node n1 --zone a
check "restarted, it is up again on the same directory" 0 "^up$" -- node_state n1
check "status counts 3 up, 0 down" 0 "3 up, 0 down, 3 on the ring" -- "$bin" cluster status --etcd "$etcd_url"
# SIGTERM revokes the lease: down at once, not after the TTL.
kill -TERM "${nodes[1]}"
wait "${nodes[1]}"
check "a node stopped with SIGTERM exits 0 and is down at once" 0 "^down$" -- node_state n2
check "the node's data directory is private" 0 "^700$" -- stat -c %a "$tmp/data-n2"
check "a data directory is one node's" 1 "is node 'n2's, not 'n9' \\(start it with --name n2\\)" -- \
  timeout 5 "$bin" node serve --etcd "$etcd_url" --listen 127.0.0.1:0 --data "$tmp/data-n2" --name n9

# Another cluster: a fresh etcd with its own cluster; n3's directory is refused.
{ kill -9 "${nodes[2]}" "$etcd_pid"; wait "${nodes[2]}" "$etcd_pid"; } 2>/dev/null
start_etcd etcd2
"$bin" cluster init --etcd "$etcd_url" >/dev/null
check "a data directory of another cluster is refused" 1 "belongs to cluster [0-9a-f]{32}, not [0-9a-f]{32}" -- \
  "$bin" node serve --etcd "$etcd_url" --listen 127.0.0.1:0 --data "$tmp/data-n3" --name n3
dead="http://127.0.0.1:$(free_port)"
check "an unreachable etcd is a clear error" 2 "cannot reach etcd at $dead" -- "$bin" node list --etcd "$dead"
check "no etcd given" 1 "no etcd given: --etcd" -- env -u VMSTORE_ETCD "$bin" node list

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
