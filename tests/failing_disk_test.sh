#!/usr/bin/env bash
# Failing disk: `vmstore serve` on a pool whose reads and writes fail with EIO
# at random (VMSTORE_FAULT_INJECTION puts a FaultEnv under the engine). Each
# qemu-io request either fails with EIO or does the right thing, and the server
# goes on serving the others. Restarted without faults: every write that
# succeeded (and was flushed) reads back, every one that failed left each
# 64 KiB cluster old or new, the snapshot is intact and fsck is clean.
# Usage: failing_disk_test.sh PATH_TO_VMSTORE   (FAULT_SEED=N to vary)
set -u
bin=${1:?usage: failing_disk_test.sh VMSTORE_BINARY}
seed=${FAULT_SEED:-7}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools qemu-io
use_tmp
echo "failing disk: seed $seed (FAULT_SEED=$seed to repeat)"

export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null
"$bin" vm create f >/dev/null
"$bin" disk create f d --size 32M >/dev/null
start_server
d=$url/f/d
io() { qemu-io -f raw "${@:2}" "$1" 2>&1; }
check "32 MiB written" 0 "wrote 33554432/33554432" -- io "$d" -c "write -P 0x11 0 32M"
check "snapshot s0" 0 "created snapshot" -- "$bin" snapshot create f s0
s0=$("$bin" snapshot list f | awk 'NR > 1 && $1 ~ /^s0_/ {print $1}')
stop_server

# Opening reads the index too, and may meet a fault: a few tries.
for try in 1 2 3 4 5; do
  VMSTORE_FAULT_INJECTION="read=0.05,write=0.05,seed=$((seed + try))" start_server
  [[ -n $port ]] && break
  wait "$server"
  server=
done
d=$url/f/d
check "the server says faults are on" 0 "FAULT INJECTION ON" -- cat "$tmp/serve.log"
declare -A wrote
wok=0 wfail=0 rok=0 rfail=0 other=0
outcome() {  # outcome OUTPUT OK_PATTERN: ok | eio | other (printed)
  if grep -q "$2" <<<"$1"; then echo ok
  elif grep -q "Input/output error" <<<"$1"; then echo eio
  else echo other; fi
}
for i in $(seq 0 31); do
  out=$(io "$d" -c "write -P 0x22 ${i}M 1M")
  case $(outcome "$out" "wrote 1048576/1048576") in
    ok) wrote[$i]=1 wok=$((wok + 1)) ;;
    eio) wfail=$((wfail + 1)) ;;
    *) other=$((other + 1)); echo "unexpected: $out" | head -5 ;;
  esac
done
# Reads of the disk (what was written, mostly still in memory) and of the
# snapshot (on disk: every read goes through the failing layer).
for i in $(seq 0 31); do
  reads=("$d@$s0 0x11")
  [[ -n ${wrote[$i]:-} ]] && reads+=("$d 0x22")
  for r in "${reads[@]}"; do
    read -r uri pat <<<"$r"
    out=$(qemu-io -r -f raw -c "read -P $pat ${i}M 1M" "$uri" 2>&1)
    if grep -q "verification failed" <<<"$out"; then
      other=$((other + 1))
      echo "wrong data: $out" | head -5
      continue
    fi
    case $(outcome "$out" "read 1048576/1048576") in
      ok) rok=$((rok + 1)) ;;
      eio) rfail=$((rfail + 1)) ;;
      *) other=$((other + 1)); echo "unexpected: $out" | head -5 ;;
    esac
  done
done
flushed=
for _ in $(seq 20); do
  out=$(io "$d" -c "flush")
  grep -q "Input/output error" <<<"$out" || { flushed=1; break; }
done
echo "under faults: $wok writes ok, $wfail failed with EIO; $rok reads ok, $rfail failed with EIO"
check "some writes failed with EIO ($wfail), others succeeded ($wok)" 0 "" -- test "$wfail" -gt 0 -a "$wok" -gt 0
check "some reads failed with EIO ($rfail), others read the right data ($rok)" 0 "" -- \
  test "$rfail" -gt 0 -a "$rok" -gt 0
check "no other outcome (wrong data, lost connection)" 0 "" -- test "$other" -eq 0
check "a flush got through" 0 "" -- test -n "$flushed"
check "the server is still up" 0 "" -- kill -0 "$server"
stop_server
src=$?
check "the server stopped cleanly (rc $src)" 0 "" -- test "$src" -eq 0
((src == 0)) || tail -5 "$tmp/serve.log"

start_server
d=$url/f/d
bad=0
for i in $(seq 0 31); do
  if [[ -n ${wrote[$i]:-} ]]; then
    io "$d" -c "read -P 0x22 ${i}M 1M" | grep -q "read 1048576/1048576" || { bad=$((bad + 1)); echo "chunk $i lost"; }
    continue
  fi
  for c in $(seq 0 15); do  # a failed write: each cluster old or new
    off=$((i * 1048576 + c * 65536))
    io "$d" -c "read -P 0x11 $off 64k" | grep -q "read 65536/65536" && continue
    io "$d" -c "read -P 0x22 $off 64k" | grep -q "read 65536/65536" && continue
    bad=$((bad + 1))
    echo "cluster at $off is neither old nor new"
  done
done
check "after a restart without faults: succeeded writes read back, failed ones old or new" 0 "" -- test "$bad" -eq 0
check "the snapshot is intact" 0 "read 33554432/33554432" -- \
  bash -c "qemu-io -r -f raw -c 'read -P 0x11 0 32M' '$d@$s0' 2>&1 | grep -v 'verification failed'"
stop_server
check "fsck clean" 0 "clean" -- "$bin" fsck
echo "failing_disk_test: $pass passed, $fail failed (seed $seed)"
((fail == 0))
