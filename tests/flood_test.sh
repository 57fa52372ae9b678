#!/usr/bin/env bash
# A flood from one client must not starve the others: fio floods a disk with
# 4 MiB writes at queue depth 64 over as many connections as its client IP may
# open (--max-client-connections 4); a fifth connection from it is refused at
# once, while another client (the Unix socket) still gets in and has 200 small
# reads served within a bounded time, and the server's memory stays bounded
# (4 connections x 4 requests in flight x 4 MiB). Usage: flood_test.sh VMSTORE
set -u
bin=${1:?usage: flood_test.sh VMSTORE_BINARY}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools fio qemu-io nbdinfo
use_tmp
export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null
"$bin" vm create f >/dev/null
"$bin" disk create f d --size 512M >/dev/null
"$bin" disk create f e --size 64M >/dev/null
start_server --max-client-connections 4
check "serve refuses a zero limit" 1 "max-client-connections" -- "$bin" serve --listen 127.0.0.1:0 --max-client-connections 0

fio --name=flood --ioengine=nbd --uri="$url/f/d" --rw=randwrite --bs=4M --iodepth=64 --numjobs=4 --size=512M \
  --time_based --runtime=15 >"$tmp/fio.log" 2>&1 &
fpid=$!
for _ in $(seq 100); do  # until the flood's four connections are in
  [[ $(ss -Htn state established "( sport = :$port )" | wc -l) -ge 4 ]] && break
  sleep 0.1
done
check "the flood holds 4 connections" 0 "" -- test "$(ss -Htn state established "( sport = :$port )" | wc -l)" -ge 4
check "a 5th connection from the flooding client is refused" 1 "" -- nbdinfo --size "$url/f/e"
check "the server says why" 0 "connection from 127.0.0.1 refused: 4 open from it" -- cat "$tmp/serve.log"
reads=()
for _ in $(seq 200); do reads+=(-c "read -P 0 0 4k"); done
t0=$(date +%s%N)
check "another client is served meanwhile (200 reads within 60 s)" 0 "" -- \
  bash -c "timeout 60 qemu-io -f raw ${reads[*]@Q} 'nbd+unix:///f/e?socket=$tmp/nbd.sock' | grep -c 'read 4096/4096' | grep -qx 200"
t1=$(date +%s%N)
echo "200 reads from the other client took $(((t1 - t0) / 1000000)) ms during the flood"
rss=$(ps -o rss= -p "$server" | tr -d ' ')
echo "server RSS during the flood: $((rss / 1024)) MiB"
# AddressSanitizer keeps freed memory in quarantine (256 MiB) and adds shadow memory.
limit=1024
ldd "$bin" | grep -q libasan && limit=2048
check "server memory stays bounded (RSS $((rss / 1024)) MiB < $limit MiB)" 0 "" -- test "$rss" -lt $((limit * 1024))
wait "$fpid"
check "the flood itself was served without errors" 0 "err= 0" -- cat "$tmp/fio.log"
# Its connections end once their last flush is done: give that up to 10 s.
for _ in $(seq 100); do nbdinfo --size "$url/f/e" >/dev/null 2>&1 && break; sleep 0.1; done
check "the flood's client may connect again afterwards" 0 "67108864" -- nbdinfo --size "$url/f/e"
echo "flood_test: $pass passed, $fail failed"
((fail == 0))
