#!/usr/bin/env bash
# A cluster as on separate hosts: a real etcd on the bridge, three storage
# nodes and a gateway each in its own network namespace (ip netns, veth, a
# bridge) with its own address; the test's clients (qemu-io, fio) reach the
# gateway over the bridge.
#  - a node cut off the bridge (ip link set down) while writes go on: they
#    complete degraded; healed, the gateway repairs it and fsck is clean;
#  - the crash loop: ROUNDS rounds of fio with crc32c verify plus a stamped
#    write (flushed, checked every round) through the gateway while a random
#    node is killed with -9 and restarted; no acknowledged write lost, and
#    `cluster fsck` clean at the end.
# Usage: cluster_netns_test.sh PATH_TO_VMSTORE [ROUNDS]
set -u
bin=${1:?usage: cluster_netns_test.sh VMSTORE_BINARY [ROUNDS]}
rounds=${2:-20}
source "$(dirname "$0")/lib.sh"
require_tools etcd curl jq qemu-io fio ip
use_tmp
source "$(dirname "$0")/cluster_lib.sh"
source "$(dirname "$0")/netns_lib.sh"
trap 'cleanup_cluster; netns_cleanup' EXIT
netns_setup

declare -A node_pid
start_ns_node() {  # start_ns_node NAME: a node in namespace NAME on its address, port 7000
  local name=$1 from
  from=$(($(cat "$tmp/node-$name.log" 2>/dev/null | wc -l) + 1))
  ip netns exec "$ns_prefix-$name" "$bin" node serve --etcd "$etcd_url" --listen "${ns_ip[$name]}:7000" --data "$tmp/data-$name" \
    --name "$name" --lease-ttl 2 >>"$tmp/node-$name.log" 2>&1 &
  node_pid[$name]=$!
  nodes+=($!)
  wait_for_log "$tmp/node-$name.log" "node: serving" "node $name" "$from"
}
pattern_ok() {  # pattern_ok EXPORT BYTE OFFSET LENGTH
  local out
  out=$(qemu-io -r -f raw -c "read -P $2 $3 $4" "nbd://$gw_ip:10809/$1" 2>&1)
  grep -q "^read [0-9]*/[0-9]* bytes" <<<"$out" && ! grep -q "verification failed" <<<"$out"
}

etcd_host=$ns_net.1 start_etcd etcd1
"$bin" cluster init --etcd "$etcd_url" --replicas 2 >/dev/null
for n in n1 n2 n3; do
  netns_add "$n"
  start_ns_node "$n"
done
netns_add gw
gw_ip=${ns_ip[gw]}
ip netns exec "$ns_prefix-gw" "$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw" serve --listen "$gw_ip:10809" >"$tmp/gw.log" 2>&1 &
others+=($!)
wait_for_log "$tmp/gw.log" "nbd://" "gateway"
g="--gateway-dir $tmp/gw"
vms() { "$bin" --etcd "$etcd_url" "$@"; }

check "each node registered with its namespace's address" 0 "^ok$" -- bash -c "
  '$bin' --json node list --etcd '$etcd_url' | jq -e '[.[].address] == [\"${ns_ip[n1]}:7000\", \"${ns_ip[n2]}:7000\", \"${ns_ip[n3]}:7000\"]' >/dev/null && echo ok"
vms $g vm create vm1 >/dev/null
check "a disk through the gateway" 0 "created disk vm1/root" -- vms $g disk create vm1 root --size 128M
check "NBD over the bridge to the gateway's namespace" 0 "wrote 2097152/2097152" -- \
  qemu-io -f raw -c "write -P 0x5a 0 2M" -c flush "nbd://$gw_ip:10809/vm1/root"

# A partition: n2 cut off the bridge while writes go on (its calls time out).
qemu-io -f raw -c "write -P 0x6b 4M 4M" -c flush "nbd://$gw_ip:10809/vm1/root" >"$tmp/part.out" 2>&1 &
writer=$!
ns_link_down n2
wait $writer
check "writes under a partitioned node complete" 0 "wrote 4194304/4194304" -- cat "$tmp/part.out"
check "and go on while it is cut off" 0 "wrote 1048576/1048576" -- \
  qemu-io -f raw -c "write -P 0x7c 9M 1M" -c flush "nbd://$gw_ip:10809/vm1/root"
check "fsck sees the cut-off node's copies short (exit 2)" 2 "unreachable: n2|degraded: .* on n2" -- \
  "$bin" cluster fsck --etcd "$etcd_url"
ns_link_up n2
wait_healthy 30
check "healed, the node is repaired" 0 "replicas  healthy" -- "$bin" cluster status --etcd "$etcd_url"
check "and fsck is clean" 0 "^clean$" -- "$bin" cluster fsck --etcd "$etcd_url"
check "every write is there" 0 "^ok$" -- bash -c "$(declare -f pattern_ok); gw_ip=$gw_ip
  pattern_ok vm1/root 0x5a 0 2M && pattern_ok vm1/root 0x6b 4M 4M && pattern_ok vm1/root 0x7c 9M 1M && echo ok"

# The crash loop.
RANDOM=4711  # the seed: node choice and timing repeat run to run
echo "crash loop: $rounds rounds, seed 4711"
lost=0
fio_failed=0
for round in $(seq 1 "$rounds"); do
  # One failure at a time (R = 2): the last victim has caught up first.
  wait_healthy 30 || echo "round $round: not healthy after 30 s: $("$bin" cluster status --etcd "$etcd_url" | tail -1)"
  fio --name="r$round" --ioengine=nbd --uri="nbd://$gw_ip:10809/vm1/root" --rw=randwrite --bs=64k \
    --offset=32M --size=32M --io_size=8M --iodepth=4 --verify=crc32c --do_verify=1 --verify_fatal=1 \
    --randseed=$round --output="$tmp/fio-$round.out" >/dev/null 2>&1 &
  fio_pid=$!
  stamp=$(printf '0x%02x' $((round % 200 + 16)))
  qemu-io -f raw -c "write -P $stamp $((round * 1024 * 1024 + 64 * 1024 * 1024)) 1M" -c flush \
    "nbd://$gw_ip:10809/vm1/root" >"$tmp/stamp-$round.out" 2>&1 &
  stamp_pid=$!
  sleep "0.$((RANDOM % 8 + 1))"
  victim=n$((RANDOM % 3 + 1))
  kill -9 "${node_pid[$victim]}"
  wait "${node_pid[$victim]}" 2>/dev/null
  sleep 0.3
  start_ns_node "$victim"
  wait $fio_pid || { fio_failed=$((fio_failed + 1)); echo "round $round: fio failed (node $victim killed)"; tail -5 "$tmp/fio-$round.out"; }
  if wait $stamp_pid && grep -q "wrote 1048576/1048576" "$tmp/stamp-$round.out"; then
    stamped=$round
  else
    echo "round $round: the stamp write failed: $(cat "$tmp/stamp-$round.out")"
  fi
  # Every stamp acknowledged so far reads back.
  for r in $(seq 1 "$round"); do
    grep -q "wrote 1048576/1048576" "$tmp/stamp-$r.out" || continue
    pattern_ok vm1/root "$(printf '0x%02x' $((r % 200 + 16)))" $((r * 1024 * 1024 + 64 * 1024 * 1024)) 1M ||
      { lost=$((lost + 1)); echo "round $round: stamp $r lost"; }
  done
done
check "fio with crc32c verify passed in every round" 0 "^0$" -- echo $fio_failed
check "no acknowledged stamp lost in $rounds rounds" 0 "^0$" -- echo $lost
check "every stamp write was acknowledged" 0 "^$rounds$" -- echo "${stamped:-0}"
wait_healthy 30
check "after the loop every node caught up" 0 "replicas  healthy" -- "$bin" cluster status --etcd "$etcd_url"
check "cluster fsck is clean after the crash loop" 0 "^clean$" -- "$bin" cluster fsck --etcd "$etcd_url"
check "the pool's own check through the gateway is clean" 0 "^clean$" -- vms $g fsck
[[ $fail -eq 0 ]] || tail -20 "$tmp/gw.log"
[[ -n "${VERBOSE:-}" ]] && "$bin" cluster fsck --etcd "$etcd_url"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
