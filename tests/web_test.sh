#!/usr/bin/env bash
# The web console end to end in headless Chromium (Debian's chromium driven by
# playwright-core from npm, pinned by tests/web/package-lock.json) against a
# real `vmstore serve --http`: log in (a wrong token gets the login page),
# the snapshot tree against `vmstore --json snapshot list --tree`, take a
# snapshot, clone it, delete a snapshot that has a clone, roll back.
# Screenshots go to $VMSTORE_WEB_SHOTS (default: build/web-shots).
# Usage: web_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: web_test.sh VMSTORE_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
source "$here/lib.sh"
require_tools chromium node npm
use_tmp
if [[ ! -d $here/web/node_modules/playwright-core ]]; then
  (cd "$here/web" && npm ci --no-audit --no-fund >/dev/null) || { echo "FAIL: npm ci in tests/web"; exit 1; }
fi
shots=${VMSTORE_WEB_SHOTS:-$(dirname "$bin")/web-shots}
rm -rf "$shots" && mkdir -p "$shots"

export VMSTORE_POOL=$tmp/pool
"$bin" init >/dev/null
"$bin" vm create web >/dev/null
"$bin" disk create web root --size 64M >/dev/null
"$bin" snapshot create web s1 >/dev/null
s1=$("$bin" --json snapshot list web | jq -r '.[] | select(.name == "s1") | .full_name')
"$bin" snapshot create web s2 >/dev/null
"$bin" vm clone "web@$s1" web-clone >/dev/null
"$bin" --json snapshot list --tree --all web >"$tmp/tree.json" 2>/dev/null || "$bin" --json snapshot list --tree web >"$tmp/tree.json"

start_server --http 127.0.0.1:0 --policy-tick 1
http=$(sed -n 's|.*HTTP API on \(http://127.0.0.1:[0-9]*\)/v1/.*|\1|p' "$tmp/serve.log")
check "the console is served at /" 0 "<title>VMStore</title>" -- curl -sS "$http/"
check "the API still needs the token" 0 "HTTP 401" -- curl -sS -w '\nHTTP %{http_code}\n' "$http/v1/vms"
node "$here/web/console_test.mjs" "$http" "$(cat "$VMSTORE_POOL/http.token")" "$tmp/tree.json" "$shots" >"$tmp/browser.out" 2>&1
rc=$?
cat "$tmp/browser.out"
check "the browser test" 0 "ok - 1,000 snapshots" -- bash -c "cat '$tmp/browser.out'; exit $rc"
check "screenshots saved" 0 "" -- test "$(ls "$shots"/*.png | wc -l)" -ge 5
stop_server

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
