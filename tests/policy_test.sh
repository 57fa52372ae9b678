#!/usr/bin/env bash
# Snapshot policies through the binary: set / show / clear / run and their
# errors, and the server's policy thread taking what is due. The schedules'
# logic over simulated weeks is src/policy/policy_test.cc (injected clock);
# here only the wiring. Usage: policy_test.sh PATH_TO_VMSTORE
set -u
bin=$(realpath "${1:?usage: policy_test.sh VMSTORE_BINARY}")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools jq
use_tmp

export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null
"$bin" vm create web >/dev/null
"$bin" disk create web root --size 64M >/dev/null

check "policy set" 0 "policy of web: daily:2 weekly:3" -- "$bin" policy set web daily:2 weekly:3
check "a bad schedule is named" 1 "schedule '15x:2': use INTERVAL:KEEP" -- "$bin" policy set web 15x:2
check "keep must be positive" 1 "keep 1 to 10000" -- "$bin" policy set web daily:0
check "too short an interval" 1 "10s to 365d" -- "$bin" policy set web 5s:2
check "a schedule twice" 1 "given twice" -- "$bin" policy set web daily:2 daily:3
check "an unknown VM" 1 "nope" -- "$bin" policy set nope daily:2
check "the bad ones changed nothing" 0 "web +daily +2 +0 +- " -- "$bin" policy show web
check "policy run takes what is due" 0 "created web@auto_daily_.*created web@auto_weekly_" -- sh -c \
  "'$bin' policy run | tr '\n' ' '"
check "and not twice in one interval" 0 "^$" -- "$bin" policy run
check "policy show counts them" 0 '"snapshots": 1' -- "$bin" --json policy show web
check "the snapshots are ordinary ones" 0 "auto_daily_" -- "$bin" snapshot list web

# The server runs the policies itself.
"$bin" vm create db >/dev/null
"$bin" policy set db 10s:2 >/dev/null
check "a VM without disks is skipped" 0 "^$" -- "$bin" policy run
"$bin" disk create db d --size 16M >/dev/null
start_server --policy-tick 1
for _ in $(seq 1 100); do
  grep -q "policy: created snapshot=db@auto_10s" "$tmp/serve.log" && break
  sleep 0.1
done
check "the server took db's snapshot" 0 "policy: created snapshot=db@auto_10s_" -- cat "$tmp/serve.log"
check "served: policy show" 0 "db +10s +2 +[12] " -- "$bin" policy show
check "served: policy clear" 0 "" -- "$bin" policy clear db
check "cleared" 0 "^web " -- sh -c "'$bin' policy show | tail -n +2"
stop_server
check "fsck is clean" 0 "clean" -- "$bin" fsck

echo "policy_test: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
