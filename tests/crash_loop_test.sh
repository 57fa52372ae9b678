#!/usr/bin/env bash
# Crash loop: `vmstore serve` killed with SIGKILL at a random moment, over and
# over, under load. Each round:
#   - crash_client verifies what the last round left on the disk and in its
#     snapshots (every write acknowledged before the last completed flush, every
#     snapshot created), then writes stamped blocks over two NBD connections,
#     flushing every 16 writes, and takes snapshots (rolling window of 6) meanwhile;
#   - fio writes another disk of the same VM over two more connections with
#     crc32c verify and a flush every 32 writes; a verify failure fails the test;
#   - the server is killed with SIGKILL 0.3-2.3 s after the verification,
#     restarted for the next round, and `vmstore fsck` must say clean between.
# After the last round the disk and snapshots are verified once more, the
# server is stopped cleanly and fsck runs again.
# Usage: crash_loop_test.sh VMSTORE CRASH_CLIENT [ROUNDS]   (CRASH_SEED=N to vary;
#        CRASH_DEDUP=on|verify makes the pool deduplicate)
set -u
bin=${1:?usage: crash_loop_test.sh VMSTORE CRASH_CLIENT [ROUNDS]}
client=${2:?usage: crash_loop_test.sh VMSTORE CRASH_CLIENT [ROUNDS]}
rounds=${3:-50}
seed=${CRASH_SEED:-20261123}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools fio
use_tmp
RANDOM=$seed
dedup=${CRASH_DEDUP:-off}
echo "crash loop: $rounds rounds, seed $seed (CRASH_SEED=$seed to repeat), dedup $dedup"

export VMSTORE_POOL=$tmp/pool
"$bin" init --dedup "$dedup" >/dev/null
"$bin" vm create crash >/dev/null
"$bin" disk create crash data --size 16M >/dev/null
"$bin" disk create crash load --size 32M >/dev/null

failed() {  # failed ROUND WHAT [LOG]
  echo "FAIL: round $1 (seed $seed): $2"
  if [[ -n ${CRASH_KEEP:-} ]]; then  # the evidence, for a look by hand
    rm -rf "$CRASH_KEEP" && mkdir -p "$CRASH_KEEP" && cp -a "$VMSTORE_POOL" "$tmp"/*.log "$tmp/state" "$CRASH_KEEP"/
    echo "    pool, logs and state kept in $CRASH_KEEP"
  fi
  [[ -n ${3:-} ]] && sed 's/^/    /' "$3" | tail -30
  fail=$((fail + 1))
}
run_client() {  # run_client ROUND [--verify-only]: starts crash_client, sets $cpid
  "$client" --base "$url" --vm crash --disk data --vmstore "$bin" --pool "$VMSTORE_POOL" \
    --state "$tmp/state" --seconds 8 --seed $((seed + $1)) "${@:2}" >"$tmp/client.log" 2>&1 &
  cpid=$!
}
wait_verified() {  # true once the client says it verified; false if it exited first
  for _ in $(seq 600); do
    grep -q '^verified' "$tmp/client.log" && return 0
    kill -0 "$cpid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
writes=0 snaps=0 killed=0 fio_runs=0
for round in $(seq 1 "$rounds"); do
  for f in client serve; do [[ -f $tmp/$f.log ]] && mv "$tmp/$f.log" "$tmp/$f.prev.log"; done
  start_server
  [[ -n $port ]] || { failed "$round" "server did not start" "$tmp/serve.log"; break; }
  run_client "$round"
  if ! wait_verified; then
    wait "$cpid"
    failed "$round" "verification after the crash (crash_client rc $?)" "$tmp/client.log"
    break
  fi
  fio --name=load --ioengine=nbd --uri="$url/crash/load" --rw=randwrite --bs=4k --iodepth=8 --numjobs=2 \
    --size=16M --offset_increment=16M --verify=crc32c --verify_backlog=128 --fsync=32 \
    --time_based --runtime=8 >"$tmp/fio.log" 2>&1 &
  fpid=$!
  sleep "$((RANDOM % 2)).$((RANDOM % 10))$((RANDOM % 10))"
  sleep 0.3
  kill -KILL "$server"
  wait "$server" 2>/dev/null
  server=
  killed=$((killed + 1))
  wait "$cpid"
  rc=$?
  wait "$fpid"
  [[ $rc -eq 0 ]] || { failed "$round" "crash_client rc $rc" "$tmp/client.log"; break; }
  if grep -qiE 'verify failed|bad magic|bad header|verify: ' "$tmp/fio.log"; then
    failed "$round" "fio found bad data" "$tmp/fio.log"
    break
  fi
  grep -q 'write: IOPS' "$tmp/fio.log" && fio_runs=$((fio_runs + 1))
  [[ -n ${CRASH_VERBOSE:-} ]] && cat "$tmp/client.log"
  read -r w s < <(sed -n 's/^round: \([0-9]*\) writes, [0-9]* flushes, \([0-9]*\) snapshot.*/\1 \2/p' "$tmp/client.log")
  writes=$((writes + ${w:-0})) snaps=$((snaps + ${s:-0}))
  if ! "$bin" fsck >"$tmp/fsck.log" 2>&1; then
    failed "$round" "fsck after the crash" "$tmp/fsck.log"
    break
  fi
done

if ((fail == 0)); then
  start_server
  [[ -n $port ]] || failed final "server did not start after the last crash" "$tmp/serve.log"
  run_client 0 --verify-only
  wait "$cpid"
  rc=$?
  check "disk and snapshots verified after the last crash" 0 "^verified [0-9]+ blocks" -- cat "$tmp/client.log"
  [[ $rc -eq 0 ]] || failed final "crash_client rc $rc" "$tmp/client.log"
  stop_server
  src=$?
  check "server stopped cleanly after $killed crashes (rc $src)" 0 "" -- test "$src" -eq 0
  check "fsck clean at the end" 0 "clean" -- "$bin" fsck
  check "the rounds wrote (${writes} stamped writes)" 0 "" -- test "$writes" -gt $((rounds * 100))
  # (at least one round in five: each snapshot is a CLI process, and under
  # AddressSanitizer 10 rounds of 0.3-1.3 s took 3 of them)
  check "the rounds took snapshots (${snaps})" 0 "" -- test "$snaps" -ge $((rounds / 5))
  check "fio ran in the rounds (${fio_runs} of $rounds reported)" 0 "" -- test "$fio_runs" -ge $((rounds / 2))
fi
echo "crash loop: $killed kills, $writes stamped writes, $snaps snapshots; $pass passed, $fail failed (seed $seed)"
((fail == 0))
