# Shared by the black-box shell tests: `check` runs a command and compares its
# exit code and output with what is expected, counting passes and failures.
pass=0 fail=0
# No config file of this machine's (/etc/vmstore, /usr/local/etc/vmstore) changes
# what the tests see; tests of the config pass --config.
export VMSTORE_CONFIG=/dev/null

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

# The server tests: start_server [serve arguments...] runs `$bin serve` on a
# free loopback port and the Unix socket $tmp/nbd.sock, logging to
# $tmp/serve.log, and sets $server (pid), $port and $url; stop_server sends
# SIGTERM and returns the server's exit code. Needs $bin and $tmp.
server=
start_server() {
  "$bin" serve --listen 127.0.0.1:0 --socket "$tmp/nbd.sock" "$@" >"$tmp/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do  # up to 30 s: a sanitizer build on a busy machine starts slowly
    grep -q "nbd://" "$tmp/serve.log" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.05
  done
  port=$(sed -n 's|.*nbd://127.0.0.1:\([0-9]*\)/.*|\1|p' "$tmp/serve.log")
  url=nbd://127.0.0.1:$port
  if [[ -z $port ]]; then  # say why, rather than fail every check after with an empty port
    echo "FAIL: the server did not start in 30 s; its log:"
    tail -20 "$tmp/serve.log"
    fail=$((fail + 1))
  fi
}
stop_server() {
  kill -TERM "$server"
  wait "$server"
  local rc=$?
  server=
  return $rc
}

# Exits: FAIL (status 1) under CI=true, else SKIP (status 0, loudly), when a
# tool the test needs is missing.
require_tools() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      if [[ ${CI:-} == true ]]; then
        echo "FAIL: $tool is not installed (scripts/setup.sh installs it)"
        exit 1
      fi
      echo "SKIP: $tool is not installed; run scripts/setup.sh (this test fails under CI=true)"
      exit 0
    fi
  done
}

# Exits like require_tools when not run as root (mounting needs it).
require_root() {
  [[ $(id -u) -eq 0 ]] && return 0
  if [[ ${CI:-} == true ]]; then
    echo "FAIL: this test mounts a loop file system and needs root"
    exit 1
  fi
  echo "SKIP: this test mounts a loop file system and needs root (it fails under CI=true)"
  exit 0
}

# An EXIT trap for tests that mount in $tmp: stops the server, unmounts
# MOUNTPOINT (a loop mount detaches its device) and removes $tmp.
cleanup_tmp_mount() {
  kill_server
  mountpoint -q "$1" && umount "$1"
  cleanup_tmp
}

# The store the black-box suites run against: a pool directory, or with
# VMSTORE_TEST_STORE=cluster a cluster - a real etcd and three storage nodes
# on loopback (R = 2), commands with --etcd through VMSTORE_ETCD, and
# `vmstore serve` a gateway whose directory is VMSTORE_GATEWAY_DIR. Call after
# use_tmp; sets $store_kind.
init_store() {
  store_kind=${VMSTORE_TEST_STORE:-pool}
  if [[ $store_kind == cluster ]]; then
    require_tools etcd curl
    source "$(dirname "${BASH_SOURCE[0]}")/cluster_lib.sh"
    trap 'kill_server; cleanup_cluster' EXIT
    start_etcd etcd
    "$bin" cluster init --etcd "$etcd_url" --replicas 2 >/dev/null || { echo "FAIL: cluster init"; exit 1; }
    local n
    for n in n1 n2 n3; do start_node "$n"; done
    export VMSTORE_ETCD=$etcd_url VMSTORE_GATEWAY_DIR=$tmp/gateway
    echo "store: a cluster (etcd $etcd_url, 3 nodes, R = 2)"
  else
    export VMSTORE_POOL=$tmp/pool
    "$bin" init >/dev/null
  fi
}

# A scratch directory in $tmp, removed (and any server stopped) at exit.
use_tmp() {
  tmp=$(mktemp -d)
  trap 'cleanup_tmp' EXIT
}
cleanup_tmp() {
  kill_server
  if [[ -n ${VMSTORE_KEEP_TMP:-} ]]; then
    echo "kept $tmp (VMSTORE_KEEP_TMP)" >&2
  else
    rm -rf "$tmp"
  fi
}
# Stops the server, if any, without asking how it ended.
kill_server() {
  [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  server=
}
