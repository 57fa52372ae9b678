#!/usr/bin/env bash
# Black-box tests of the HTTP+JSON management API of `vmstore serve --http`
# with curl: the bearer token, every route, error codes, and the rules the CLI
# keeps (an open export is not rolled back without force). Usage:
# http_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: http_test.sh VMSTORE_BINARY}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools curl jq qemu-io
use_tmp

export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null

# api METHOD PATH [JSON]: prints the answer as one line of JSON, then " HTTP <status>".
api() {
  local data=() out
  [[ $# -ge 3 ]] && data=(-H "Content-Type: application/json" --data "$3")
  out=$(curl -sS -X "$1" -H "Authorization: Bearer $token" "${data[@]}" -w '\n%{http_code}' "$http$2")
  echo "$(sed '$d' <<<"$out" | jq -c .) HTTP $(tail -1 <<<"$out")"
}

start_server --http 127.0.0.1:0
http=$(sed -n 's|.*HTTP API on \(http://127.0.0.1:[0-9]*\)/v1/.*|\1|p' "$tmp/serve.log")
check "the server prints the API address" 0 "HTTP API on http://127.0.0.1:[0-9]+/v1/ \\(bearer token in .*/http.token\\)" -- cat "$tmp/serve.log"
check "the token file is created 0600" 0 "^600$" -- stat -c %a "$VMSTORE_POOL/http.token"
check "the control socket is 0600 (only its owner can manage the pool)" 0 "^600 socket$" -- \
  stat -c '%a %F' "$VMSTORE_POOL/vmstore.sock"
token=$(cat "$VMSTORE_POOL/http.token")
check "64 hex characters of token" 0 "^[0-9a-f]{64}$" -- cat "$VMSTORE_POOL/http.token"
check "no token: 401" 0 "HTTP 401" -- curl -sS -w '\nHTTP %{http_code}\n' "$http/v1/vms"
check "a wrong token: 401" 0 "HTTP 401" -- curl -sS -H "Authorization: Bearer ${token}x" -w '\nHTTP %{http_code}\n' "$http/v1/vms"

check "create a VM" 0 '"name":"web"' -- api POST /v1/vms '{"name": "web"}'
check "the same name again: 409 AlreadyExists" 0 'AlreadyExists.*HTTP 409' -- api POST /v1/vms '{"name": "web"}'
check "a bad name: 400" 0 'InvalidArgument.*HTTP 400' -- api POST /v1/vms '{"name": "no/slash"}'
# Route and body values are values, never command-line options (they used to
# reach the CLI parser: {"name": "--help"} answered 200 with the help text).
check "a name that looks like an option is refused as a name" 0 'InvalidArgument.*VM name.*HTTP 400' -- \
  api POST /v1/vms '{"name": "--help"}'
check "a route value that looks like an option is a VM name" 0 'NotFound.*HTTP 404' -- api GET /v1/vms/--all
check "create a disk" 0 '"size":67108864.*HTTP 200' -- api POST /v1/vms/web/disks '{"name": "root", "size": "64M"}'
check "a disk without size: 400 naming the field" 0 'missing field \\"size\\".*HTTP 400' -- \
  api POST /v1/vms/web/disks '{"name": "other"}'
check "a body that is not JSON: 400" 0 'not a JSON object.*HTTP 400' -- api POST /v1/vms '{name'
check "an unknown VM: 404" 0 'NotFound.*HTTP 404' -- api GET /v1/vms/nope
check "an unknown route: 404" 0 'no route GET /v1/nothing.*HTTP 404' -- api GET /v1/nothing
check "status" 0 '"srs":\[.*HTTP 200' -- api GET /v1/status
check "SRs" 0 '"default".*HTTP 200' -- api GET /v1/srs

qemu-io -f raw -c "write -P 0x11 0 1M" "$url/web/root" >/dev/null
check "a snapshot through the API" 0 '"full_name":"before_[0-9]{8}T' -- api POST /v1/vms/web/snapshots '{"name": "before"}'
full=$(api GET /v1/vms/web/snapshots | sed 's/ HTTP [0-9]*$//' | jq -r '.[0].full_name')
check "the CLI sees it (through the control socket)" 0 "^before_" -- "$bin" snapshot find web "$full"
qemu-io -f raw -c "write -P 0x22 0 1M" "$url/web/root" >/dev/null
qemu-io -f raw -c "sleep 3000" "$url/web/root" >/dev/null 2>&1 &
holder=$!
sleep 0.5
check "open exports" 0 '"web/root"' -- api GET /v1/exports
check "rollback of an open disk: 409 naming the export" 0 'export web/root is open by an NBD client.*HTTP 409' -- \
  api POST /v1/vms/web/rollback "{\"snapshot\": \"$full\"}"
check "rollback with force disconnects it" 0 "HTTP 200" -- api POST /v1/vms/web/rollback "{\"snapshot\": \"$full\", \"force\": true}"
wait "$holder"
check "the disk holds the snapshot's data" 0 "read 1048576/1048576" -- qemu-io -f raw -c "read -P 0x11 0 1M" "$url/web/root"
check "clone the snapshot" 0 '"name":"web2"' -- api POST /v1/vms/web/clone "{\"snapshot\": \"$full\", \"name\": \"web2\"}"
check "the clone's disks" 0 '"clone_of":"web/root@before_' -- api GET /v1/vms/web2/disks
check "deleting a cloned snapshot is deferred" 0 'web2.*HTTP 200' -- api DELETE "/v1/vms/web/snapshots/$full"
check "listed with all=1 as deleted" 0 '"is_deleted":true' -- api GET "/v1/vms/web/snapshots?all=1"
check "dry run of a recursive delete" 0 'HTTP 200' -- api DELETE "/v1/vms/web?recursive=1&dry_run=1"
check "the dry run kept it" 0 '"name":"web2"' -- api GET /v1/vms
check "any command through /v1/cli" 0 '"default"' -- api POST /v1/cli '{"args": ["sr", "show", "default"]}'
check "/v1/cli: a bad option is 400" 0 'not expected.*HTTP 400' -- api POST /v1/cli '{"args": ["vm", "list", "--bogus"]}'
check "/v1/cli: init is refused while served (409)" 0 'being served.*HTTP 409' -- api POST /v1/cli '{"args": ["init"]}'
check "/v1/cli: a daemon command is refused (it would hold the server)" 0 'runs until interrupted.*HTTP 400' -- \
  api POST /v1/cli '{"args": ["node", "serve", "--etcd", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--data", "/nonexistent"]}'
check "/v1/cli: --watch is refused" 0 'runs until interrupted.*HTTP 400' -- \
  api POST /v1/cli '{"args": ["cluster", "status", "--watch"]}'
check "GET /v1/cluster on a pool's server is 404" 0 'not a cluster.*HTTP 404' -- api GET /v1/cluster
check "/v1/cli: args must be strings" 0 'array of strings.*HTTP 400' -- api POST /v1/cli '{"args": [1]}'
check "a recursive delete" 0 'HTTP 200' -- api DELETE "/v1/vms/web?recursive=1"
check "both VMs are gone" 0 '^\[\]$' -- bash -c "curl -sS -H 'Authorization: Bearer $token' $http/v1/vms | jq -c ."

# Regression (issue 24, item 3): 8 connections sending one header byte every
# 3 s held cpp-httplib's 8 workers, and an authorized request timed out until
# they closed. Now 40 such clients (from 5 addresses) are cut at the request
# deadline (10 s) and never hold a worker meanwhile.
hport=${http##*:}
python3 - "$hport" >"$tmp/drip.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
conns = []
for i in range(40):
    s = socket.socket()
    s.bind(("127.0.0.%d" % (2 + i % 5), 0))
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    conns.append(s)
start, closed, request = time.time(), {}, b"GET /v1/status HTTP/1.1\r\nHost: x\r\n"
k = 0
while time.time() - start < 20 and len(closed) < len(conns):
    for i, s in enumerate(conns):
        if i in closed:
            continue
        try:
            s.send(request[k % len(request):k % len(request) + 1])
            data = s.recv(4096)
            closed[i] = (time.time() - start, data[:12])
        except BlockingIOError:
            pass
        except OSError:
            closed[i] = (time.time() - start, b"reset")
    k += 1
    time.sleep(1)
answers = sorted(set(v[1] for v in closed.values()))
print("closed %d of %d, the last after %.0f s: %s" % (len(closed), len(conns), max([v[0] for v in closed.values()] or [0]), answers))
PY
drip=$!
sleep 2
check "an authorized request is answered while 40 clients drip theirs" 0 '"server"' -- \
  curl -sS -m 5 -H "Authorization: Bearer $token" "$http/v1/status"
wait "$drip"
# (a client whose drip arrives as the gate closes may see a reset instead of the 408)
check "every dripping client is cut at the deadline with 408" 0 "closed 40 of 40, the last after 1[0-2] s: \\[b'HTTP/1.1 408'" -- \
  cat "$tmp/drip.out"
check "a chunked body is refused with 411" 0 "HTTP 411" -- \
  curl -sS -H "Authorization: Bearer $token" -H "Transfer-Encoding: chunked" --data '{"name":"x"}' \
  -w '\nHTTP %{http_code}\n' "$http/v1/vms"
head -c 2000000 /dev/zero >"$tmp/big.body"
check "a body over 1 MiB is refused with 413" 0 "HTTP 413" -- \
  curl -sS -H "Authorization: Bearer $token" --data-binary @"$tmp/big.body" -w '\nHTTP %{http_code}\n' "$http/v1/vms"
check "a body sent after 100-continue is served" 0 "^HTTP 200$" -- \
  curl -sS -o /dev/null -H "Authorization: Bearer $token" -H "Expect: 100-continue" \
  -H "Content-Type: application/json" --data '{"name": "expect"}' -w 'HTTP %{http_code}\n' "$http/v1/vms"
check "that VM exists" 0 '"name":"expect"' -- api GET /v1/vms/expect

stop_server

chmod 644 "$VMSTORE_POOL/http.token"
check "a token file others can read is refused" 1 "readable by others \\(chmod 600" -- \
  "$bin" serve --listen 127.0.0.1:0 --http 127.0.0.1:0
echo short >"$tmp/short.token"
chmod 600 "$tmp/short.token"
check "a short token is refused" 1 "shorter than 16 characters" -- \
  "$bin" serve --listen 127.0.0.1:0 --http 127.0.0.1:0 --http-token-file "$tmp/short.token"
echo 0123456789abcdef0123 >"$tmp/ok.token"
chmod 600 "$tmp/ok.token"
check "a bad --http address" 1 "not HOST:PORT" -- \
  "$bin" serve --listen 127.0.0.1:0 --http nonsense --http-token-file "$tmp/ok.token"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
