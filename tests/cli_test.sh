#!/usr/bin/env bash
# Black-box tests of the vmstore CLI: init, demo, status, fsck, scrub, exit codes
# and error messages. Usage: cli_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: cli_test.sh VMSTORE_BINARY}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() {  # check NAME EXPECTED_RC PATTERN -- command...
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -eq $want ]] && grep -qE -- "$pattern" <<<"$out"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $name (rc $rc, want $want; pattern '$pattern')"
    echo "$out" | head -20 | sed 's/^/    /'
  fi
}

p=$tmp/pool
check "init creates a pool" 0 "created pool" -- "$bin" --pool "$p" init --cluster-size 16K
check "init twice is a user error" 1 "already exists" -- "$bin" --pool "$p" init
check "bad cluster size" 1 "power of two" -- "$bin" --pool "$tmp/p2" init --cluster-size 3000
check "bad size suffix" 1 "unknown suffix" -- "$bin" --pool "$tmp/p3" init --cluster-size 64Q
check "no pool given" 1 "pass --pool DIR or set VMSTORE_POOL" -- env -u VMSTORE_POOL "$bin" status
check "missing pool" 1 "no VMStore pool" -- "$bin" --pool "$tmp/none" status
check "demo writes and snapshots" 0 "snapshot @4096: OPQRST" -- "$bin" --pool "$p" demo --size 64M
check "status lists the snapshot" 0 "snapshot +64.0 MiB" -- "$bin" --pool "$p" status
check "VMSTORE_POOL works" 0 "volumes +2" -- env VMSTORE_POOL="$p" "$bin" status
check "fsck clean" 0 "^clean" -- "$bin" --pool "$p" fsck
check "scrub clean" 0 "^clean" -- "$bin" --pool "$p" scrub
check "help has an example" 0 "example: vmstore --pool" -- "$bin" fsck --help

# Damage a data unit: scrub and fsck report it and exit 2.
ctr=$(ls "$p"/containers/*.ctr | head -1)
off=$(( 4096 + 16384 * 8 + 4096 * 3 ))  # header, sums (default 64M container), some data unit
size=$(stat -c %s "$ctr")
if (( size > off )); then
  printf '\xff\xfe\xfd' | dd of="$ctr" bs=1 seek=$((off + 100)) conv=notrunc status=none
  check "scrub reports damage" 2 "checksum mismatch" -- "$bin" --pool "$p" scrub
  check "fsck reports damage" 2 "problem\\(s\\) found" -- "$bin" --pool "$p" fsck
else
  fail=$((fail + 1)); echo "FAIL: container smaller than expected ($size)"
fi

# A pool in use by another process is refused.
p4=$tmp/p4
"$bin" --pool "$p4" init >/dev/null
exec 9>"$p4/pool.lock"
flock -n 9
check "locked pool refused" 1 "in use by another process" -- "$bin" --pool "$p4" status
exec 9>&-

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
