#!/usr/bin/env bash
# `cmake --install` into a scratch prefix: the program runs from there, the
# systemd unit is where systemd looks and passes `systemd-analyze verify`, the
# config file is installed (and kept on a second install), valid, and what the
# unit's commands read; the documentation is installed.
# Usage: install_test.sh BUILD_DIR
set -u
build=${1:?usage: install_test.sh BUILD_DIR}
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools systemd-analyze
use_tmp
prefix=$tmp/usr/local
check "cmake --install" 0 "Installing: .*/bin/vmstore" -- cmake --install "$build" --prefix "$prefix"
bin=$prefix/bin/vmstore
check "the installed program runs" 0 "Usage: vmstore" -- "$bin" --help
unit=$prefix/lib/systemd/system/vmstore.service
check "the unit starts the server with the config's settings" 0 "^ExecStart=/usr/local/bin/vmstore serve$" -- cat "$unit"
check "the unit makes the pool on first start" 0 "^ExecStartPre=/usr/local/bin/vmstore init --exist-ok$" -- cat "$unit"
conf=$prefix/etc/vmstore/vmstore.toml
check "the config file is installed" 0 "^pool = \"/var/lib/vmstore\"$" -- cat "$conf"
check "the installed config is valid" 0 "vmstore.toml: ok \\(1 of [0-9]+ keys set\\)" -- "$bin" config check "$conf"
echo '# edited by the administrator' >>"$conf"
check "a second install keeps an edited config" 0 "Keeping: .*vmstore.toml" -- cmake --install "$build" --prefix "$prefix"
check "... unchanged" 0 "^# edited by the administrator$" -- tail -1 "$conf"
check "the documentation is installed" 0 "CLI.md" -- ls "$prefix/share/doc/vmstore"
# What the unit runs, with the installed config (the pool moved to scratch space).
sed -i '$d' "$conf"
export VMSTORE_POOL=$tmp/pool
mkdir -m 700 "$VMSTORE_POOL"  # as StateDirectory= leaves it
check "init --exist-ok makes the pool" 0 "created pool" -- "$bin" --config "$conf" init --exist-ok
check "init --exist-ok again changes nothing" 0 "pool .*/pool exists" -- "$bin" --config "$conf" init --exist-ok
check "plain init still refuses an existing pool" 1 "." -- "$bin" --config "$conf" init
"$bin" --config "$conf" serve --listen 127.0.0.1:0 >"$tmp/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "nbd://" "$tmp/serve.log" && break; sleep 0.05; done
check "the server logs the config it read" 0 "serve: started pool=.*/pool config=.*/etc/vmstore/vmstore.toml workers=4" -- \
  cat "$tmp/serve.log"
kill_server
# The unit names /usr/local/...; verify it against the installed copy.
sed "s|/usr/local/|$prefix/|g" "$unit" >"$tmp/vmstore.service"
check "systemd-analyze verify" 0 "" -- systemd-analyze verify "$tmp/vmstore.service"
echo "install_test: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
