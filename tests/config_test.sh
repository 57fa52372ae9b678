#!/usr/bin/env bash
# Black-box tests of the config file: every key set in a file and its effect
# seen (the pool, the log's level, format and file, each serve.* setting on a
# running server, TLS and the HTTP API), flags and $VMSTORE_POOL winning over
# the file, bad files refused with FILE:LINE, and contrib/vmstore.toml being
# what `vmstore config example` prints. Usage: config_test.sh PATH_TO_VMSTORE
set -u
bin=${1:?usage: config_test.sh VMSTORE_BINARY}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools qemu-io nbdinfo curl jq openssl
use_tmp
unset VMSTORE_POOL
bin=$(realpath "$bin")
example=$(realpath "$(dirname "$0")/../contrib/vmstore.toml")
cd "$tmp" || exit 1

check "contrib/vmstore.toml is what config example prints" 0 "" -- \
  diff <("$bin" config example) "$example"
check "the example is a valid config" 0 "ok \\(1 of 22 keys set\\)" -- \
  bash -c "'$bin' config example > ex.toml && '$bin' config check ex.toml"

# --- pool: relative to the file's directory; --pool and VMSTORE_POOL win.
mkdir -p conf
printf 'pool = "../pool"\n' >conf/p.toml
check "init on the config's pool" 0 "created pool $tmp/conf/../pool" -- "$bin" --config conf/p.toml init
check "commands use it" 0 "default +native" -- "$bin" --config conf/p.toml status
"$bin" --pool "$tmp/other" init >/dev/null
"$bin" --pool "$tmp/other" vm create only-in-other >/dev/null
check "VMSTORE_POOL wins over the file" 0 "only-in-other" -- env VMSTORE_POOL="$tmp/other" "$bin" --config conf/p.toml vm list
check "--pool wins over the file" 0 "only-in-other" -- "$bin" --config conf/p.toml --pool "$tmp/other" vm list
check "VMSTORE_CONFIG names the file" 0 "pool = \"$tmp/conf/../pool\"  # conf/p.toml" -- \
  env VMSTORE_CONFIG=conf/p.toml "$bin" config show
check "no pool anywhere: the error says where to put one" 1 "pass --pool DIR, set VMSTORE_POOL or .pool. in the config file" -- \
  "$bin" --config /dev/null status
export VMSTORE_POOL=$tmp/pool
"$bin" vm create web >/dev/null
"$bin" disk create web root --size 16M >/dev/null
"$bin" vm create db >/dev/null
"$bin" disk create db data --size 16M >/dev/null

# --- Bad files: FILE:LINE and what is wrong; nothing runs.
printf '[serve]\nworkers = 100\n' >bad1.toml
check "out of range" 1 "bad1.toml:2: serve.workers = 100 is outside 1..64" -- "$bin" --config bad1.toml status
printf '[log]\nlevel = "chatty"\n' >bad2.toml
check "not a choice" 1 "bad2.toml:2: log.level = \"chatty\" is not one of trace, debug, info, warn, error, off" -- \
  "$bin" --config bad2.toml serve
printf '[serve]\nlisten = 10809\n' >bad3.toml
check "wrong type" 1 "bad3.toml:2: serve.listen must be a string" -- "$bin" --config bad3.toml serve
printf '[serve]\nworker = 2\n' >bad4.toml
check "unknown key, with the known ones" 1 "bad4.toml:2: unknown key 'serve.worker' \\(keys of \\[serve\\]: listen, socket, workers" -- \
  "$bin" --config bad4.toml serve
printf '[serve\n' >bad5.toml
check "TOML syntax" 1 "bad5.toml:1: " -- "$bin" --config bad5.toml status
check "config check reports it too" 1 "bad5.toml:1: " -- "$bin" config check bad5.toml
check "a missing file" 1 "config file nope.toml does not exist" -- "$bin" --config nope.toml status
printf '[serve]\nallow = ["nonsense"]\nlisten = "127.0.0.1:0"\n' >bad6.toml
check "a bad allow rule names the key" 1 "--allow \\(serve.allow\\) 'nonsense' is not CLIENT=GLOB" -- \
  "$bin" --config bad6.toml serve

# serve_with FILE [flags...]: `vmstore serve` with only that config (and flags);
# waits for its NBD address or its exit; sets $server, $port, $log.
serve_with() {
  local file=$1
  shift
  log=$tmp/serve-$RANDOM.log
  "$bin" --config "$file" serve "$@" >"$log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    grep -q "nbd://\|socket=" "$log" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.05
  done
  port=$(sed -n 's|.*nbd://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log" | head -1)
}
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    ss -ltn | grep -q ":$p " || break
  done
  echo "$p"
}

# --- serve.listen, serve.socket, serve.workers, max_*, policy_tick; log.level = debug, text.
p1=$(free_port)
cat >s1.toml <<EOF
[log]
level = "debug"
[serve]
listen = "127.0.0.1:$p1"
socket = "s1.sock"
workers = 3
max_connections = 3
max_client_connections = 2
policy_tick = 1
EOF
serve_with s1.toml
check "serve.listen: the server is on the configured port" 0 "^$p1$" -- echo "$port"
check "serve.listen: qemu-io reaches it" 0 "wrote 65536/65536" -- \
  qemu-io -f raw -c "write -P 1 0 64k" "nbd://127.0.0.1:$p1/web/root"
check "serve.socket: relative to the file, served" 0 "export-size: 16777216" -- \
  nbdinfo "nbd+unix:///web/root?socket=$tmp/s1.sock"
check "serve.workers etc. as the server took them" 0 \
  "serve: started .*config=s1.toml workers=3 max_connections=3 max_client_connections=2 allow_rules=0 policy_tick=1 log_level=debug" \
  -- cat "$log"
check "log.level = debug: connections are logged" 0 "debug nbd: connection opened client=127.0.0.1 export=web/root" -- cat "$log"
check "log.format = text: time, level, component" 0 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z info  serve: started" -- cat "$log"
# Two connections from 127.0.0.1 held open: a third from it is refused
# (max_client_connections = 2); one on the Unix socket makes 3 in all, so
# another there is refused too (max_connections = 3).
holders=()
for _ in 1 2; do
  qemu-io -f raw -c "sleep 20000" "nbd://127.0.0.1:$p1/web/root" >/dev/null 2>&1 &
  holders+=($!)
done
qemu-io -f raw -c "sleep 20000" "nbd+unix:///db/data?socket=$tmp/s1.sock" >/dev/null 2>&1 &
holders+=($!)
for _ in $(seq 100); do
  [[ $(grep -c "connection opened" "$log") -ge 5 ]] && break
  sleep 0.05
done
check "serve.max_client_connections: a third connection from the client is refused" 0 "" -- \
  bash -c "! qemu-io -f raw -c 'read 0 4k' nbd://127.0.0.1:$p1/web/root"
check "... and logged" 0 "warn  nbd: connection from 127.0.0.1 refused: 2 open from it, 3 in all" -- cat "$log"
check "serve.max_connections: past 3 in all, the Unix socket is refused too" 0 "" -- \
  bash -c "! qemu-io -f raw -c 'read 0 4k' 'nbd+unix:///db/data?socket=$tmp/s1.sock'"
check "... and logged" 0 "refused: 1 open from it, 3 in all" -- cat "$log"
kill "${holders[@]}" 2>/dev/null
wait "${holders[@]}" 2>/dev/null
"$bin" policy set db 10s:1 >/dev/null
for _ in $(seq 60); do grep -q "policy: created" "$log" && break; sleep 0.1; done
check "serve.policy_tick = 1: the policy ran within seconds" 0 "info  policy: created snapshot=db@auto_10s_" -- cat "$log"
"$bin" policy clear db >/dev/null
check "commands through the server are logged" 0 "info  command: ran args=\"policy clear db\" rc=0" -- cat "$log"
check "config show through the server shows the server's file" 0 "serve.workers = 3  # s1.toml" -- \
  "$bin" --config s1.toml config show
kill_server
check "the flag wins over serve.listen" 0 "nbd://127.0.0.1:[0-9]+/" -- \
  bash -c "'$bin' --config s1.toml serve --listen 127.0.0.1:0 --socket '' > flag.log 2>&1 & pid=\$!; sleep 1; kill \$pid; wait \$pid; grep -v ':$p1/' flag.log | grep nbd://"

printf '[serve]\nlisten = "127.0.0.1:0"\nallow = ["127.0.0.1=web/*", "unix=*"]\n' >al.toml
serve_with al.toml --allow '*=db/*'
kill_server
check "--allow replaces serve.allow (not added to it)" 0 "allow_rules=1 " -- cat "$log"

# --- log.format = json, log.file, log.level = warn; serve.allow; serve.http.*.
p2=$(free_port)
p3=$(free_port)
printf 'secret-token-of-the-config-test\n' >token
chmod 600 token
cat >s2.toml <<EOF
[log]
level = "warn"
format = "json"
file = "logs/vmstore.log"
[serve]
listen = "127.0.0.1:$p3"
allow = ["127.0.0.1=web/*"]
[serve.http]
listen = "127.0.0.1:$p2"
token_file = "token"
EOF
"$bin" --config s2.toml serve >s2.out 2>&1 &
server=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$p2/metrics" >/dev/null 2>&1 && break; sleep 0.05; done
check "serve.http.listen + token_file: the API answers with the file's token" 0 "^vmstore_vms 2$" -- \
  bash -c "curl -sS -H 'Authorization: Bearer secret-token-of-the-config-test' http://127.0.0.1:$p2/metrics | grep '^vmstore_vms '"
check "... and not without it" 0 "HTTP 401" -- curl -sS -w '\nHTTP %{http_code}\n' "http://127.0.0.1:$p2/metrics"
check "log.level = warn: no info lines" 1 "" -- grep -q '"level":"info"' logs/vmstore.log
check "log.file: nothing on stderr" 0 "^$" -- cat s2.out
port=$p3
check "serve.allow: the client sees web/* only" 0 "^web/root$" -- \
  bash -c "nbdinfo --list --json nbd://127.0.0.1:$port | jq -r '.exports[].\"export-name\"'"
check "serve.allow: db/data cannot be opened" 1 "." -- nbdinfo "nbd://127.0.0.1:$port/db/data"
kill_server
check "log.format = json: every line is an object with time, level, component, msg" 0 "^[1-9][0-9]* ok$" -- \
  bash -c "n=\$(wc -l < logs/vmstore.log); jq -e 'has(\"time\") and has(\"level\") and has(\"component\") and has(\"msg\")' logs/vmstore.log >/dev/null && echo \$n ok"
check "... the refused token at warn" 0 '"level":"warn","component":"http","msg":"unauthorized request","client":"127.0.0.1"' -- \
  cat logs/vmstore.log
check "... the refused export at warn" 0 '"msg":"export refused by the allow list","client":"127.0.0.1","export":"db/data"' -- \
  cat logs/vmstore.log
printf '[log]\nfile = "logs/vmstore.log"\nlevel = "info"\n[serve]\nlisten = "127.0.0.1:0"\n' >s3.toml
serve_with s3.toml
kill_server
check "log.file appends: the second server's lines follow the first's" 0 "^ok$" -- \
  bash -c "head -1 logs/vmstore.log | jq -e .level >/dev/null && tail -1 logs/vmstore.log | grep -q 'info  serve: stopped on signal 15' && echo ok"

# --- serve.tls.*: require + PSK, then x509.
mkdir -p psk
echo "alice:$(openssl rand -hex 32)" >psk/keys.psk
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
mkdir -p x509 && cp cert.pem x509/ca-cert.pem
printf '[serve]\nlisten = "127.0.0.1:0"\n[serve.tls]\nmode = "require"\npsk = "psk/keys.psk"\n' >t1.toml
serve_with t1.toml
check "serve.tls.mode = require: plaintext refused" 1 "." -- nbdinfo "nbd://127.0.0.1:$port/web/root"
check "serve.tls.psk: a PSK client is served" 0 "newstyle-fixed with TLS" -- \
  nbdinfo "nbds://alice@127.0.0.1:$port/web/root?tls-psk-file=$tmp/psk/keys.psk"
kill_server
printf '[serve]\nlisten = "127.0.0.1:0"\n[serve.tls]\nmode = "on"\ncert = "cert.pem"\nkey = "key.pem"\n' >t2.toml
serve_with t2.toml
check "serve.tls.cert/key: an x509 client is served" 0 "newstyle-fixed with TLS" -- \
  nbdinfo "nbds://127.0.0.1:$port/web/root?tls-certificates=$tmp/x509"
check "serve.tls.mode = on: plaintext too" 0 "export-size: 16777216" -- nbdinfo "nbd://127.0.0.1:$port/web/root"
kill_server
check "serve.tls.mode = off with credentials is refused" 1 "--tls=off with TLS credentials" -- \
  bash -c "printf '[serve]\nlisten = \"127.0.0.1:0\"\n[serve.tls]\nmode = \"off\"\npsk = \"psk/keys.psk\"\n' > t3.toml && '$bin' --config t3.toml serve"

echo "config_test: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
