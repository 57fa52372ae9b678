# Cluster test helpers: a real etcd and storage nodes on free loopback ports.
# Needs $bin and $tmp (lib.sh's use_tmp); sets $etcd_url, $etcd_pid, nodes[].
# cleanup_cluster kills them all and removes $tmp.
etcd_pid=
nodes=()
others=()  # more processes to kill at the end (gateways)
cleanup_cluster() {
  { for p in "${others[@]}" "${nodes[@]}" $etcd_pid; do kill -9 "$p"; done; wait; } 2>/dev/null
  cleanup_tmp
}
trap cleanup_cluster EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_etcd() {  # start_etcd NAME: an etcd in $tmp/NAME on free ports of $etcd_host (127.0.0.1); sets $etcd_url
  local cport pport
  cport=$(free_port)
  pport=$(free_port)
  etcd_url=http://${etcd_host:-127.0.0.1}:$cport
  etcd --data-dir "$tmp/$1" --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "default=http://127.0.0.1:$pport" \
    --auto-compaction-mode revision --auto-compaction-retention 1000 >"$tmp/$1.log" 2>&1 &
  etcd_pid=$!
  for _ in $(seq 1 100); do
    curl -s -m 1 "$etcd_url/version" >/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL: etcd did not start"
  exit 1
}
start_node() {  # start_node NAME [args...]: node NAME on a free port, data in $tmp/data-NAME
  local name=$1
  shift
  "$bin" node serve --etcd "$etcd_url" --listen 127.0.0.1:0 --data "$tmp/data-$name" --name "$name" \
    --lease-ttl 2 "$@" >"$tmp/node-$name.log" 2>&1 &
  nodes+=($!)
  wait_for_log "$tmp/node-$name.log" "node: serving" "node $name"
}
wait_healthy() {  # wait_healthy SECONDS: until cluster status says every replica is healthy
  for _ in $(seq 1 $(($1 * 2))); do
    "$bin" cluster status --etcd "$etcd_url" | grep -q "replicas  healthy" && return 0
    sleep 0.5
  done
  return 1
}
wait_for_log() {  # wait_for_log FILE PATTERN WHAT [FROM_LINE]: up to 30 s for PATTERN in FILE; else shows FILE
  # (a gateway restarted on a loaded CI machine once took over 10 s)
  for _ in $(seq 1 600); do
    tail -n "+${4:-1}" "$1" 2>/dev/null | grep -q "$2" && return 0
    sleep 0.05
  done
  echo "$3 did not start:"
  cat "$1"
}
