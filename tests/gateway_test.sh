#!/usr/bin/env bash
# Cluster gateways against a real etcd and three storage nodes (R = 2), all on
# loopback: every command with --etcd (the catalog in etcd), `vmstore serve
# --etcd` serving NBD exports of disks, snapshots and clones whose data lives
# on the nodes; commands forwarded to this host's gateway; a second gateway
# refused an SR the first holds and serving its own SR at the same time, with
# clones of the first SR's golden image that share its blocks; a
# node killed with -9 while writes go on; a gateway killed with -9 and
# restarted with every flushed write; concurrent catalog writers; refusals.
# Usage: gateway_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: gateway_test.sh VMSTORE_BINARY}
source "$(dirname "$0")/lib.sh"
require_tools etcd curl jq qemu-io qemu-img
use_tmp
source "$(dirname "$0")/cluster_lib.sh"

start_gateway() {  # start_gateway NAME: `serve --etcd` with its directory $tmp/NAME; sets ${NAME}_port
  local name=$1 port from
  port=$(free_port)
  from=$(($(cat "$tmp/$name.log" 2>/dev/null | wc -l) + 1))  # a restart appends to the log
  "$bin" --etcd "$etcd_url" --gateway-dir "$tmp/$name" serve --listen "127.0.0.1:$port" >>"$tmp/$name.log" 2>&1 &
  others+=($!)
  eval "${name}_pid=$!"
  eval "${name}_port=$port"
  wait_for_log "$tmp/$name.log" "nbd://" "gateway $name" "$from"
}
vms() { "$bin" --etcd "$etcd_url" "$@"; }
pattern_ok() {  # pattern_ok PORT EXPORT BYTE OFFSET LENGTH: qemu-io verifies the pattern
  local out
  out=$(qemu-io -r -f raw -c "read -P $3 $4 $5" "nbd://127.0.0.1:$1/$2" 2>&1)
  grep -q "^read [0-9]*/[0-9]* bytes" <<<"$out" && ! grep -q "verification failed" <<<"$out"
}

start_etcd etcd1
"$bin" cluster init --etcd "$etcd_url" --replicas 2 >/dev/null
start_node n1
start_node n2
start_node n3

check "the first command makes the catalog with SR default of type cluster" 0 "default +cluster" -- vms sr list
check "vm create through etcd" 0 "created VM gold" -- vms vm create gold
check "disk create in the cluster SR" 0 "created disk gold/root \\(64.0 MiB\\) in SR default" -- \
  vms disk create gold root --size 64M
check "another process sees it" 0 "gold +root +64.0 MiB" -- vms disk list gold
check "a path SR cannot join a cluster" 1 "the SRs of a cluster are of type cluster" -- \
  vms sr create local --type native
check "--pool and --etcd together are refused" 1 "--pool and --etcd name two different stores" -- \
  "$bin" --pool "$tmp/p" --etcd "$etcd_url" vm list
check "init is a pool directory's, not a cluster's" 1 "a cluster is made with: vmstore cluster init" -- \
  env VMSTORE_ETCD="$etcd_url" "$bin" init

# A gateway; commands given its directory go through it (it holds the SR).
start_gateway gw1
g1="--gateway-dir $tmp/gw1"
check "NBD write through the gateway" 0 "wrote 4194304/4194304" -- \
  qemu-io -f raw -c "write -P 0xa5 1M 4M" -c flush "nbd://127.0.0.1:$gw1_port/gold/root"
check "read back from the nodes" 0 "^ok$" -- bash -c "$(declare -f pattern_ok); pattern_ok $gw1_port gold/root 0xa5 1M 4M && echo ok"
check "qemu-img sees the export's size" 0 "virtual size: 64 MiB" -- qemu-img info "nbd://127.0.0.1:$gw1_port/gold/root"
check "snapshot through the gateway (forwarded)" 0 "created snapshot gold@golden_" -- vms $g1 snapshot create gold golden
full=$(vms --json snapshot list gold | jq -r '.[0].full_name')
for i in $(seq 1 20); do vms $g1 vm clone "gold@$full" "desk$i" >/dev/null || echo "FAIL: clone desk$i"; done
check "20 clones of the golden image" 0 "^20$" -- bash -c "'$bin' --etcd '$etcd_url' --json vm list | jq '[.[] | select(.name | startswith(\"desk\"))] | length'"
check "a clone reads the image's data" 0 "^ok$" -- bash -c "$(declare -f pattern_ok); pattern_ok $gw1_port desk7/root 0xa5 1M 4M && echo ok"
check "the snapshot export reads it too" 0 "^ok$" -- \
  bash -c "$(declare -f pattern_ok); pattern_ok $gw1_port 'gold/root@$full' 0xa5 1M 4M && echo ok"
check "a write to a clone" 0 "wrote 65536/65536" -- \
  qemu-io -f raw -c "write -P 0x3c 2M 64k" -c flush "nbd://127.0.0.1:$gw1_port/desk7/root"
check "goes to the clone only" 0 "^ok$" -- bash -c "$(declare -f pattern_ok); pattern_ok $gw1_port gold/root 0xa5 2M 64k && pattern_ok $gw1_port desk8/root 0xa5 2M 64k && pattern_ok $gw1_port desk7/root 0x3c 2M 64k && echo ok"
check "clones share the image's blocks (no copy)" 0 "^ok$" -- bash -c "
  ex=\$('$bin' --etcd '$etcd_url' $g1 --json disk list desk8 | jq '.[0].exclusive'); [[ \$ex =~ ^[0-9]+$ && \$ex -lt 1048576 ]] && echo ok"
check "a command not sent to the gateway does not take its SR (space unknown)" 0 "^null$" -- \
  bash -c "'$bin' --etcd '$etcd_url' --json disk list desk8 | jq '.[0].exclusive'"

# A second gateway: refused the SR the first holds, serving an SR of its own.
start_gateway gw2
g2="--gateway-dir $tmp/gw2"
check "the second gateway cannot change gw1's SR" 1 "/vmstore/locks/pool/default is held by .* pid $gw1_pid" -- \
  vms $g2 disk create gold data --size 1M
check "nor serve its disks" 1 "" -- qemu-io -f raw -c "read 0 4k" "nbd://127.0.0.1:$gw2_port/gold/root"
check "gw2 says why" 0 "held by .* pid $gw1_pid" -- cat "$tmp/gw2.log"
check "an SR of its own" 0 "created SR farm2" -- vms $g2 sr create farm2 --type cluster
vms $g2 vm create desk-b >/dev/null
check "a disk in it" 0 "in SR farm2" -- vms $g2 disk create desk-b root --size 32M --sr farm2
check "both gateways serve at once" 0 "^ok$" -- bash -c "$(declare -f pattern_ok)
  qemu-io -f raw -c 'write -P 0x77 0 1M' -c flush nbd://127.0.0.1:$gw2_port/desk-b/root >/dev/null &&
  qemu-io -f raw -c 'write -P 0x78 8M 1M' -c flush nbd://127.0.0.1:$gw1_port/desk3/root >/dev/null &&
  pattern_ok $gw2_port desk-b/root 0x77 0 1M && pattern_ok $gw1_port desk3/root 0x78 8M 1M && echo ok"

# Clones of the golden image in gw2's SR: they share the image's blocks in
# gw1's SR (read beside gw1, which goes on serving), writes stay in farm2.
for i in $(seq 1 10); do
  vms $g2 vm clone "gold@$full" "desk-b$i" --sr farm2 >/dev/null || echo "FAIL: clone desk-b$i into farm2"
done
check "10 clones of the image in gw2's SR" 0 "^10$" -- bash -c "'$bin' --etcd '$etcd_url' --json disk list | jq '[.[] | select((.vm | startswith(\"desk-b\")) and .sr == \"farm2\" and .clone_of != null)] | length'"
bash -c "$(declare -f pattern_ok)
  pids=()
  for i in \$(seq 1 10); do
    ( pattern_ok $gw1_port desk\$i/root 0xa5 3M 2M && pattern_ok $gw1_port desk\$((i + 10))/root 0xa5 3M 2M || echo \"desk\$i or desk\$((i + 10)) did not read\" ) & pids+=(\$!)
    ( pattern_ok $gw2_port desk-b\$i/root 0xa5 1M 4M || echo \"desk-b\$i did not read\" ) & pids+=(\$!)
  done
  for p in \${pids[@]}; do wait \$p; done" >"$tmp/reads.out" 2>&1
check "20 + 10 clones of one image read at once through 2 gateways" 0 "^ok$" -- \
  bash -c "[[ ! -s '$tmp/reads.out' ]] && echo ok || cat '$tmp/reads.out'"
check "a write to a clone in farm2" 0 "wrote 1048576/1048576" -- \
  qemu-io -f raw -c "write -P 0x5a 3M 1M" -c flush "nbd://127.0.0.1:$gw2_port/desk-b3/root"
check "goes to that clone only" 0 "^ok$" -- bash -c "$(declare -f pattern_ok); pattern_ok $gw2_port desk-b3/root 0x5a 3M 1M && pattern_ok $gw2_port desk-b3/root 0xa5 1M 2M && pattern_ok $gw2_port desk-b4/root 0xa5 3M 1M && pattern_ok $gw1_port gold/root 0xa5 3M 1M && pattern_ok $gw1_port 'gold/root@$full' 0xa5 1M 4M && echo ok"
check "the clones in farm2 hold only what they wrote" 0 "^ok$" -- bash -c "
  '$bin' --etcd '$etcd_url' $g2 --json disk list desk-b4 | jq -e '.[0].exclusive < 1048576' >/dev/null &&
  '$bin' --etcd '$etcd_url' $g2 --json disk list desk-b3 | jq -e '.[0].exclusive >= 1048576 and .[0].exclusive < 2097152' >/dev/null && echo ok"
check "a clone into an SR another gateway holds is refused" 1 "/vmstore/locks/pool/default is held by .* pid $gw1_pid" -- \
  vms $g2 vm clone "gold@$full" desk-x --sr default
check "a clone into a missing SR is refused" 1 "SR 'nosuch' does not exist" -- \
  vms $g2 vm clone "gold@$full" desk-x --sr nosuch
check "the refused clones left no VM" 1 "" -- vms vm show desk-x

# kill -9 of a node while writes go on: flushed writes survive, I/O goes on.
qemu-io -f raw -c "write -P 0x11 10M 8M" -c flush "nbd://127.0.0.1:$gw1_port/gold/root" >/dev/null &
writer=$!
sleep 0.2
{ kill -9 "${nodes[1]}"; wait "${nodes[1]}"; } 2>/dev/null
wait $writer
check "the write under the kill completed" 0 "^0$" -- echo $?
check "writes go on with a node down" 0 "wrote 1048576/1048576" -- \
  qemu-io -f raw -c "write -P 0x22 20M 1M" -c flush "nbd://127.0.0.1:$gw1_port/gold/root"
check "and every flushed byte reads back" 0 "^ok$" -- bash -c "$(declare -f pattern_ok); pattern_ok $gw1_port gold/root 0xa5 1M 4M && pattern_ok $gw1_port gold/root 0x11 10M 8M && pattern_ok $gw1_port gold/root 0x22 20M 1M && echo ok"
check "the node that missed writes is on record in etcd" 0 "n2" -- \
  bash -c "curl -s -X POST -d '{\"key\":\"$(printf /vmstore/degraded/ | base64)\",\"range_end\":\"$(printf /vmstore/degraded0 | base64)\"}' $etcd_url/v3/kv/range | jq -r '.kvs[].value' | base64 -d"
check "cluster status says the replicas are degraded" 0 "replicas  degraded: [0-9]+ copies missed changes" -- \
  "$bin" cluster status --etcd "$etcd_url"
check "fsck: copies short of R are not clean (exit 2)" 2 "degraded: .* on n2 \(missed a change" -- \
  "$bin" cluster fsck --etcd "$etcd_url"
start_node n2
# kill -9 of the gateway: a new one takes the SR over (the dead one's lock
# expires) and serves every flushed write.
start=$(date +%s)
{ kill -9 "$gw1_pid"; wait "$gw1_pid"; } 2>/dev/null
rm -f "$tmp/gw1"/*.sock
start_gateway gw1
# The SR's lock is the dead gateway's until its lease ends (10 s): the new
# one waits that out when a client first asks for the SR's disks.
# Meanwhile gw2 answers views of gw1's disks over and over: views must not
# take the SR when the dead gateway's lease ends (only a client's open may).
( for _ in $(seq 1 150); do vms $g2 disk list gold >/dev/null 2>&1; sleep 0.2; done ) &
viewer=$!
for _ in $(seq 1 60); do
  qemu-io -r -f raw -c "read 0 4k" "nbd://127.0.0.1:$gw1_port/gold/root" >/dev/null 2>&1 && break
  sleep 0.5
done
elapsed=$(($(date +%s) - start))
{ kill "$viewer"; wait "$viewer"; } 2>/dev/null
check "the restarted gateway took the SR over within the lease TTL + 5 s" 0 "^ok$" -- \
  bash -c "echo took $elapsed s; (( $elapsed <= 15 )) && echo ok"
check "and serves what the dead one flushed" 0 "^ok$" -- bash -c "$(declare -f pattern_ok); pattern_ok $gw1_port gold/root 0x22 20M 1M && pattern_ok $gw1_port gold/root 0x11 10M 8M && pattern_ok $gw1_port desk7/root 0x3c 2M 64k && echo ok"
check "gw2's clones of the image read through it all along" 0 "^ok$" -- bash -c "$(declare -f pattern_ok); pattern_ok $gw2_port desk-b9/root 0xa5 1M 4M && pattern_ok $gw2_port desk-b3/root 0x5a 3M 1M && echo ok"

# The restarted node catches up: the gateway holding the SR copies back what
# it missed, and only then is it "up" again; fsck then finds R good copies.
wait_healthy 30
check "the restarted node caught up (repaired by the gateway)" 0 "replicas  healthy" -- \
  "$bin" cluster status --etcd "$etcd_url"
check "the repair is in the gateway's log" 0 "repair.*copied back" -- cat "$tmp/gw1.log"
check "node list: every node up, with its containers and bytes" 0 "^ok$" -- bash -c "
  '$bin' --json node list --etcd '$etcd_url' | jq -e 'length == 3 and all(.state == \"up\" and .bytes != null) and ([.[].containers] | add) >= 2' >/dev/null && echo ok"
check "cluster fsck is clean" 0 "^clean$" -- "$bin" cluster fsck --etcd "$etcd_url"
check "and has read every copy" 0 "^ok$" -- bash -c "
  '$bin' --json cluster fsck --etcd '$etcd_url' | jq -e '.copies_verified >= 2 * (.containers + .files) and .bytes_verified > 8388608' >/dev/null && echo ok"
# A damaged unit in one copy: fsck reports it (exit 2); reads take the other copy.
victim=$(find "$tmp"/data-n* -name '*.ctr' -size +1M | head -1)
victim_node=$(sed -E 's|.*/data-([^/]*)/.*|\1|' <<<"$victim")
python3 -c "
import sys; f=open(sys.argv[1],'r+b'); f.seek(-4096*3+100, 2); b=f.read(1); f.seek(-4096*3+100, 2); f.write(bytes([b[0]^0x5a]))" "$victim"
check "fsck finds the damaged copy (exit 2)" 2 "damaged: container:[0-9]+ on $victim_node: .*" -- "$bin" cluster fsck --etcd "$etcd_url"
check "fsck --repair records the damaged copy for the gateway holding its SR" 2 "1 damaged copies recorded for repair" -- \
  "$bin" cluster fsck --repair --etcd "$etcd_url"
wait_healthy 20
check "which copies a good one over it: fsck clean again" 0 "^clean$" -- "$bin" cluster fsck --etcd "$etcd_url"
check "every disk reads whole" 0 "^ok$" -- bash -c "$(declare -f pattern_ok); pattern_ok $gw1_port gold/root 0x22 20M 1M && pattern_ok $gw1_port gold/root 0x11 10M 8M && pattern_ok $gw1_port gold/root 0xa5 1M 4M && echo ok"

# Catalog writers in parallel processes: etcd's lock serialises them.
par=()
for i in $(seq 1 8); do
  vms vm create "par$i" >/dev/null &
  par+=($!)
done
wait "${par[@]}"
check "eight concurrent vm creates all land" 0 "^8$" -- bash -c "'$bin' --etcd '$etcd_url' --json vm list | jq '[.[] | select(.name | startswith(\"par\"))] | length'"

# etcd out of reach past the lock's lease: gw1 stops acknowledging writes;
# etcd back, gw1 takes its SR's lock again (nobody held it meanwhile) and
# serves on without a restart.
w() {  # w PORT EXPORT BYTE OFFSET: a flushed 1 MiB write, at most 10 s
  timeout 10 qemu-io -f raw -c "write -P $3 $4 1M" -c flush "nbd://127.0.0.1:$1/$2" 2>&1
}
check "a write before etcd stops" 0 "wrote 1048576/1048576" -- w "$gw1_port" gold/root 0x44 30M
kill -STOP "$etcd_pid"
sleep 12  # past the lease (10 s)
check "with etcd out of reach past the lease, gw1 acknowledges no write" 0 "^none$" -- bash -c "
  $(declare -f w); w $gw1_port gold/root 0x45 31M | grep -q '^wrote' && exit 1; echo none"
kill -CONT "$etcd_pid"
wait_for_log "$tmp/gw1.log" "took the SR's writer lock again" "gw1's retake" >/dev/null
for _ in $(seq 1 40); do w "$gw1_port" gold/root 0x46 32M | grep -q "^wrote" && break; sleep 0.5; done
check "etcd back, gw1 took its lock again by itself" 0 "took the SR's writer lock again: nobody held it meanwhile" -- \
  cat "$tmp/gw1.log"
check "and its writes are acknowledged again" 0 "wrote 1048576/1048576" -- w "$gw1_port" gold/root 0x46 32M
check "what it acknowledged before and after reads back" 0 "^ok$" -- bash -c "$(declare -f pattern_ok)
  pattern_ok $gw1_port gold/root 0x44 30M 1M && pattern_ok $gw1_port gold/root 0x46 32M 1M && echo ok"

# A gateway paused past its lease (SIGSTOP): gw2 takes the SR over and
# writes; resumed, gw1 must not take the lock back - its view is stale - and
# acknowledges nothing, even once gw2 has let the SR go.
kill -STOP "$gw1_pid"
for _ in $(seq 1 60); do w "$gw2_port" gold/root 0x47 33M | grep -q "^wrote" && break; sleep 0.5; done
check "gw2 took the SR over from the paused gw1" 0 "wrote 1048576/1048576" -- w "$gw2_port" gold/root 0x48 34M
kill -CONT "$gw1_pid"
sleep 3
check "resumed, gw1 acknowledges no write of the SR gw2 holds" 0 "^none$" -- bash -c "
  $(declare -f w); w $gw1_port gold/root 0x49 35M | grep -q '^wrote' && exit 1; echo none"
{ kill "$gw2_pid"; wait "$gw2_pid"; } 2>/dev/null
sleep 3
check "nor once gw2 has let it go: the SR changed since gw1's view" 0 "^none$" -- bash -c "
  $(declare -f w); w $gw1_port gold/root 0x49 35M | grep -q '^wrote' && exit 1; echo none"
check "gw1 says why" 0 "another gateway held the SR while this one was cut off" -- \
  cat "$tmp/gw1.log"
{ kill "$gw1_pid"; wait "$gw1_pid"; } 2>/dev/null
rm -f "$tmp/gw1"/*.sock "$tmp/gw2"/*.sock
start_gateway gw1
start_gateway gw2
for _ in $(seq 1 40); do pattern_ok "$gw1_port" gold/root 0x48 34M 1M && break; sleep 0.5; done
check "a restarted gw1 serves what gw2 wrote, and nothing of what it refused" 0 "^ok$" -- bash -c "$(declare -f pattern_ok)
  pattern_ok $gw1_port gold/root 0x47 33M 1M && pattern_ok $gw1_port gold/root 0x48 34M 1M &&
  ! pattern_ok $gw1_port gold/root 0x49 35M 1M && echo ok"

curl -s -X POST -d "{\"key\":\"$(printf /vmstore/alloc/pools | base64)\",\"value\":\"$(printf x7 | base64)\"}" \
  "$etcd_url/v3/kv/put" >/dev/null
check "a damaged pool counter in etcd is reported, not trusted" 2 "/vmstore/alloc/pools in etcd holds 'x7', not a number" -- \
  vms $g2 sr create farm3 --type cluster
dead="http://127.0.0.1:$(free_port)"
check "an unreachable etcd is a clear error" 2 "cannot reach etcd at $dead" -- "$bin" --etcd "$dead" vm list

[[ -n "${KEEP:-}" ]] && { echo "tmp=$tmp etcd=$etcd_url gw1=$gw1_port"; sleep 600; }
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
