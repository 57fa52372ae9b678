#!/usr/bin/env bash
# Black-box tests of the monitoring: `vmstore metrics` and GET /metrics
# (Prometheus text) checked by promtool, every number compared with what the
# test did (qemu-io and fio over NBD, snapshots, a policy, deduplicated
# writes), the histograms' invariants, a real Prometheus server scraping the
# endpoint with the bearer token, and `vmstore status`. Usage:
# metrics_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: metrics_test.sh VMSTORE_BINARY}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools curl jq qemu-io fio promtool prometheus
use_tmp
prom=
trap '[[ -n $prom ]] && kill "$prom" 2>/dev/null; wait 2>/dev/null; cleanup_tmp' EXIT

export VMSTORE_POOL=$tmp/pool
"$bin" init --dedup on >/dev/null
"$bin" vm create web >/dev/null
"$bin" disk create web root --size 64M >/dev/null
"$bin" vm create db >/dev/null
"$bin" disk create db data --size 32M >/dev/null
"$bin" disk create db log --size 16M >/dev/null
"$bin" snapshot create web a >/dev/null
"$bin" snapshot create web b >/dev/null
"$bin" snapshot create db x >/dev/null

# value FILE SERIES: the value of the series written exactly so (name{labels}).
value() { awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$1"; }
# check_value NAME FILE SERIES EXPECTED
check_value() { check "$1" 0 "^$4\$" -- value "$2" "$3"; }

# --- Offline: the pool's metrics, no server's.
"$bin" metrics >"$tmp/offline.prom"
check "offline metrics pass promtool" 0 "" -- promtool check metrics <"$tmp/offline.prom"
check_value "offline: VMs" "$tmp/offline.prom" vmstore_vms 2
check_value "offline: snapshots of web" "$tmp/offline.prom" 'vmstore_vm_snapshots{vm="web"}' 2
check_value "offline: disks of db" "$tmp/offline.prom" 'vmstore_vm_disks{vm="db"}' 2
check "offline: no NBD series without a server" 1 "" -- grep -q '^vmstore_nbd' "$tmp/offline.prom"

# An SR that cannot be opened is reported down; the rest still is.
"$bin" sr create fast --path "$tmp/fast" >/dev/null
mv "$tmp/fast" "$tmp/fast.gone"
"$bin" metrics >"$tmp/down.prom"
check "an SR gone: metrics still answer and pass promtool" 0 "" -- promtool check metrics <"$tmp/down.prom"
check_value "... it is down" "$tmp/down.prom" 'vmstore_sr_up{sr="fast"}' 0
check_value "... the default SR is up" "$tmp/down.prom" 'vmstore_sr_up{sr="default"}' 1
check_value "... and still counted (3 disks, 4 disk snapshots)" "$tmp/down.prom" 'vmstore_sr_vdis{sr="default"}' 7
check "status names it and why" 0 "SR fast is unavailable: .*directory does not exist" -- "$bin" status
mv "$tmp/fast.gone" "$tmp/fast"
"$bin" sr delete fast >/dev/null

# --- Served.
start_server --http 127.0.0.1:0 --policy-tick 1
http=$(sed -n 's|.*HTTP API on \(http://127.0.0.1:[0-9]*\)/v1/.*|\1|p' "$tmp/serve.log")
token=$(cat "$VMSTORE_POOL/http.token")
scrape() { curl -sS -H "Authorization: Bearer $token" "$http/metrics" >"$1"; }
check "no token: 401" 0 "HTTP 401" -- curl -sS -w '\nHTTP %{http_code}\n' "$http/metrics"
check "the content type is Prometheus text 0.0.4" 0 "text/plain; version=0.0.4" -- \
  curl -sS -o /dev/null -D - -H "Authorization: Bearer $token" "$http/metrics"

# Writes: 4 MiB of one pattern (deduplicated down to one cluster), then 8
# scattered 64 KiB writes; a 2 MiB read. qemu-io sends each as one request.
qemu-io -f raw -c "write -P 0x5a 0 4M" "$url/web/root" >/dev/null
cmds=()
for i in 0 1 2 3 4 5 6 7; do cmds+=(-c "write -P $((i + 1)) $((8 + i * 3))M 64k"); done
qemu-io -f raw "${cmds[@]}" "$url/web/root" >/dev/null
qemu-io -f raw -c "read 0 2M" "$url/web/root" >/dev/null
scrape "$tmp/1.prom"
check "served metrics pass promtool" 0 "" -- promtool check metrics <"$tmp/1.prom"
e='export="web/root"'
check_value "write requests" "$tmp/1.prom" "vmstore_nbd_requests_total{$e,op=\"write\"}" 9
check_value "write bytes" "$tmp/1.prom" "vmstore_nbd_bytes_total{$e,op=\"write\"}" $((4194304 + 8 * 65536))
check_value "read requests" "$tmp/1.prom" "vmstore_nbd_requests_total{$e,op=\"read\"}" 1
check_value "read bytes" "$tmp/1.prom" "vmstore_nbd_bytes_total{$e,op=\"read\"}" 2097152
check_value "no errors" "$tmp/1.prom" "vmstore_nbd_request_errors_total{$e,op=\"write\"}" 0
check_value "three connections to the export" "$tmp/1.prom" "vmstore_nbd_export_connections_total{$e}" 3
check_value "none open now" "$tmp/1.prom" "vmstore_nbd_export_open_connections{$e}" 0
check_value "the server counted 3 connections" "$tmp/1.prom" vmstore_nbd_connections_total 3

# Histograms: cumulative buckets never decrease, +Inf equals _count equals
# the requests counter, and the sum is positive.
histograms() {
  awk '
    /^vmstore_nbd_request_duration_seconds_bucket/ {
      key = $1; sub(/,le="[^"]*"/, "", key); sub(/_bucket/, "", key)
      if (key in last && $2 < last[key]) { print "decreasing: " $0; bad = 1 }
      last[key] = $2; if ($1 ~ /le="\+Inf"/) inf[key] = $2
    }
    /^vmstore_nbd_request_duration_seconds_count/ { k = $1; sub(/_count/, "", k); count[k] = $2 }
    /^vmstore_nbd_request_duration_seconds_sum/ { k = $1; sub(/_sum/, "", k); sum[k] = $2 }
    /^vmstore_nbd_requests_total/ { k = $1; sub(/vmstore_nbd_requests_total/, "vmstore_nbd_request_duration_seconds", k); req[k] = $2 }
    END {
      for (k in count) {
        n++
        if (inf[k] != count[k]) { print "+Inf != count: " k; bad = 1 }
        if (req[k] != count[k]) { print "count != requests: " k; bad = 1 }
        if (count[k] > 0 && sum[k] <= 0) { print "sum not positive: " k; bad = 1 }
      }
      if (!bad) print n " histograms consistent"
      exit bad
    }' "$1"
}
check "histogram invariants" 0 "^[1-9][0-9]* histograms consistent" -- histograms "$tmp/1.prom"

# fio's nbd engine: exactly 200 random 4 KiB writes.
before=$(value "$tmp/1.prom" "vmstore_nbd_requests_total{export=\"db/data\",op=\"write\"}")
[[ $before == absent ]] && before=0
fio --name=m --ioengine=nbd --uri="$url/db/data" --rw=randwrite --bs=4k --size=8M --io_size=800k \
  --randrepeat=1 --randseed=20261124 >"$tmp/fio.log" 2>&1
check "fio ran" 0 "" -- grep -q 'write: IOPS' "$tmp/fio.log"
scrape "$tmp/2.prom"
check_value "fio's 200 writes counted" "$tmp/2.prom" 'vmstore_nbd_requests_total{export="db/data",op="write"}' \
  $((before + 200))
check_value "fio's bytes counted" "$tmp/2.prom" 'vmstore_nbd_bytes_total{export="db/data",op="write"}' 819200
check "histogram invariants after fio" 0 "histograms consistent" -- histograms "$tmp/2.prom"

# Deduplication: the 4 MiB of one pattern were 64 clusters of which 63 found
# the first; the scattered writes are distinct; fio's random data too.
lookups=$(value "$tmp/2.prom" 'vmstore_dedup_lookups_total{sr="default"}')
hits=$(value "$tmp/2.prom" 'vmstore_dedup_hits_total{sr="default"}')
check "dedup hits: at least the 63 repeated clusters" 0 "" -- test "$hits" -ge 63
check_value "dedup saved bytes = hits x 64 KiB" "$tmp/2.prom" 'vmstore_dedup_saved_bytes_total{sr="default"}' \
  $((hits * 65536))
check "dedup ratio = lookups / (lookups - hits)" 0 "^ok" -- awk -v l="$lookups" -v h="$hits" \
  -v r="$(value "$tmp/2.prom" 'vmstore_dedup_ratio{sr="default"}')" \
  'BEGIN { d = l / (l - h) - r; print ((d < 1e-9 && d > -1e-9 && r > 1) ? "ok" : "bad " r) }'
check "node cache: hits + misses > 0, ratio in [0, 1]" 0 "^ok" -- awk \
  -v h="$(value "$tmp/2.prom" 'vmstore_node_cache_hits_total{sr="default"}')" \
  -v m="$(value "$tmp/2.prom" 'vmstore_node_cache_misses_total{sr="default"}')" \
  -v r="$(value "$tmp/2.prom" 'vmstore_node_cache_hit_ratio{sr="default"}')" \
  'BEGIN { d = h / (h + m) - r; print ((h + m > 0 && d < 1e-9 && d > -1e-9) ? "ok" : "bad " h " " m " " r) }'
check "space: physical > 0 and the file system's free <= its size" 0 "^ok" -- awk \
  -v p="$(value "$tmp/2.prom" 'vmstore_sr_physical_bytes{sr="default"}')" \
  -v s="$(value "$tmp/2.prom" 'vmstore_sr_fs_size_bytes{sr="default"}')" \
  -v a="$(value "$tmp/2.prom" 'vmstore_sr_fs_avail_bytes{sr="default"}')" \
  'BEGIN { print ((p > 0 && a <= s && s > 0) ? "ok" : "bad") }'

# An open connection shows; status (through the server) says so too.
qemu-io -f raw -c "sleep 3000" "$url/web/root" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 100); do
  scrape "$tmp/3.prom"
  [[ $(value "$tmp/3.prom" "vmstore_nbd_export_open_connections{$e}") == 1 ]] && break
  sleep 0.05
done
check_value "one connection open on web/root" "$tmp/3.prom" "vmstore_nbd_export_open_connections{$e}" 1
check "status shows the server" 0 "server: up .*NBD: 1 connections open on 1 exports" -- "$bin" status
check "status --json: the open export" 0 '^\["web/root"\]$' -- \
  bash -c "'$bin' --json status | jq -c .server.open_exports"
wait "$holder"

# Snapshots and the policy's counters.
"$bin" snapshot create web c >/dev/null
"$bin" policy set db 10s:2 >/dev/null
for _ in $(seq 100); do
  scrape "$tmp/4.prom"
  [[ $(value "$tmp/4.prom" vmstore_policy_snapshots_created_total) != 0 ]] && break
  sleep 0.1
done
check_value "web has 3 snapshots" "$tmp/4.prom" 'vmstore_vm_snapshots{vm="web"}' 3
check_value "the policy took one of db" "$tmp/4.prom" vmstore_policy_snapshots_created_total 1
check_value "db has 2 snapshots" "$tmp/4.prom" 'vmstore_vm_snapshots{vm="db"}' 2
newest=$(value "$tmp/4.prom" 'vmstore_vm_newest_snapshot_timestamp_seconds{vm="db"}')
check "db's newest snapshot is from the last minute" 0 "^ok" -- awk -v t="$newest" -v now="$(date +%s)" \
  'BEGIN { print ((now - t < 60 && now - t > -5) ? "ok" : "bad " t) }'
"$bin" policy clear db >/dev/null
check "status: counts" 0 "2 VMs \\(0 marked deleted\\), 3 disks, 5 snapshots \\(0 marked deleted\\)" -- "$bin" status

# A real Prometheus scrapes the endpoint with the token file.
for _ in $(seq 20); do
  pport=$((20000 + RANDOM % 20000))
  ss -ltn | grep -q ":$pport " || break
done
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: vmstore
    authorization:
      credentials_file: $VMSTORE_POOL/http.token
    static_configs:
      - targets: ["${http#http://}"]
EOF
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom" \
  --web.listen-address="127.0.0.1:$pport" >"$tmp/prometheus.log" 2>&1 &
prom=$!
query() { curl -sS -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" 2>/dev/null; }
for _ in $(seq 300); do  # up to 30 s
  [[ $(query 'vmstore_nbd_bytes_total{op="write",export="db/data"}' | jq -r '.data.result[0].value[1]' 2>/dev/null) \
    == 819200 ]] && break
  sleep 0.1
done
check "Prometheus scraped the target (up == 1)" 0 '^"1"$' -- bash -c "$(declare -f query); pport=$pport; query 'up{job=\"vmstore\"}' | jq '.data.result[0].value[1]'"
check "Prometheus holds fio's bytes" 0 '^"819200"$' -- \
  bash -c "$(declare -f query); pport=$pport; query 'vmstore_nbd_bytes_total{op=\"write\",export=\"db/data\"}' | jq '.data.result[0].value[1]'"
check "Prometheus computes a histogram quantile" 0 '^[0-9.e+-]+$' -- \
  bash -c "$(declare -f query); pport=$pport; query 'histogram_quantile(0.99, vmstore_nbd_request_duration_seconds_bucket{op=\"write\",export=\"db/data\"})' | jq -r '.data.result[0].value[1]'"
kill "$prom"
wait "$prom" 2>/dev/null
prom=

stop_server
check "the server stops cleanly" 0 "" -- test $? -eq 0
echo "metrics_test: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
