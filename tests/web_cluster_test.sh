#!/usr/bin/env bash
# The web console on a cluster gateway, in headless Chromium: a real etcd,
# three storage nodes in three zones and `vmstore serve --etcd --http`. The
# overview shows every node (state, zone, ring share, bytes) as `vmstore
# --json cluster status` does; a fourth node joins under a 1 MiB/s recovery
# cap and the move's progress shows without a reload, then its end; a node
# killed -9 shows as down. Screenshots go to $VMSTORE_WEB_SHOTS (default:
# build/web-shots, beside web_test.sh's).
# Usage: web_cluster_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: web_cluster_test.sh VMSTORE_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
source "$here/lib.sh"
require_tools chromium node npm etcd curl jq fio
use_tmp
# shellcheck source=tests/cluster_lib.sh
source "$here/cluster_lib.sh"
if [[ ! -d $here/web/node_modules/playwright-core ]]; then
  (cd "$here/web" && npm ci --no-audit --no-fund >/dev/null) || { echo "FAIL: npm ci in tests/web"; exit 1; }
fi
shots=${VMSTORE_WEB_SHOTS:-$(dirname "$bin")/web-shots}/cluster
rm -rf "$shots" && mkdir -p "$shots"

start_etcd etcd1
"$bin" cluster init --etcd "$etcd_url" --replicas 2 --container-size 1M >/dev/null
start_node n1 --zone rack1
start_node n2 --zone rack2
start_node n3 --zone rack3
port=$(free_port)
"$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw" serve --listen "127.0.0.1:$port" --http 127.0.0.1:0 >"$tmp/gw.log" 2>&1 &
others+=($!)
wait_for_log "$tmp/gw.log" "HTTP API on" gateway
http=$(sed -n 's|.*HTTP API on \(http://127.0.0.1:[0-9]*\)/v1/.*|\1|p' "$tmp/gw.log")
g=(--etcd "$etcd_url" --gateway-dir "$tmp/gw")
"$bin" "${g[@]}" vm create desk >/dev/null
"$bin" "${g[@]}" disk create desk root --size 64M >/dev/null
fio --name=fill --ioengine=nbd --uri="nbd://127.0.0.1:$port/desk/root" --rw=write --bs=1M --size=32M \
  --output="$tmp/fill.out" || echo "FAIL: fio could not fill the disk"
"$bin" "${g[@]}" snapshot create desk base >/dev/null  # a checkpoint: the data is in the containers

token=$(cat "$tmp/gw/http.token")
check "GET /v1/cluster is cluster status" 0 '^\["n1","n2","n3"\] 2$' -- bash -c \
  "curl -sS -H 'Authorization: Bearer $token' $http/v1/cluster | jq -c '[.nodes[].name], .replicas' | paste -sd' '"
"$bin" --json cluster status --etcd "$etcd_url" >"$tmp/status.json"

# The browser watches while n4 joins under a cap, and n2 is killed after the move.
"$bin" cluster config --etcd "$etcd_url" --recovery-mib-per-s 1 >/dev/null
mkfifo "$tmp/steps"
node "$here/web/cluster_test.mjs" "$http" "$token" "$tmp/status.json" "$shots" >"$tmp/browser.out" 2>&1 <"$tmp/steps" &
browser=$!
exec 3>"$tmp/steps"
wait_line() {  # wait_line TEXT: up to 60 s for the browser test to print TEXT
  for _ in $(seq 1 600); do
    grep -q "$1" "$tmp/browser.out" && return 0
    kill -0 "$browser" 2>/dev/null || break
    sleep 0.1
  done
  echo "the browser test did not reach '$1':"
  cat "$tmp/browser.out"
}
wait_line "waiting for a join"
sleep 2.5  # the nodes follow the config within 2 s
start_node n4 --zone rack1
echo joined >&3
wait_line "waiting for the move's end"
"$bin" cluster config --etcd "$etcd_url" --recovery-mib-per-s 0 >/dev/null
wait_line "waiting for a node to die"
{ kill -9 "${nodes[1]}"; wait "${nodes[1]}"; } 2>/dev/null
echo killed >&3
exec 3>&-
wait "$browser"
rc=$?
cat "$tmp/browser.out"
check "the browser test" 0 "ok - a node killed shows as down" -- bash -c "cat '$tmp/browser.out'; exit $rc"
check "screenshots saved" 0 "" -- test "$(ls "$shots"/*.png | wc -l)" -ge 3

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
