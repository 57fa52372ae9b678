# The stores the cluster benchmarks measure side by side on this machine
# (sourced by cluster_bench.sh, recovery_bench.sh and cluster_snap_bench.sh;
# when called, the functions use $bin, $tmp, bench/lib.sh and
# tests/cluster_lib.sh).
#
# A VMStore cluster:
# vmstore_cluster NAME NODES SIZE: a real etcd, NODES storage nodes (NAME1,
#   NAME2, ...; R = 2) and a gateway on loopback; VM b with disk d of SIZE
#   filled with random data. Sets gw_uri (nbd://.../b/d), gw_port, gw_dir.
# vmsc ARGS...: the vmstore CLI on it.
# vmstore_cluster_stop: kills its etcd, nodes and gateway (kill -9).
#
# A VMStore cluster in network namespaces (after tests/netns_lib.sh's netns_setup):
# ns_cluster PREFIX NODES REPLICAS: a real etcd on the host's bridge address
#   and NODES storage nodes (PREFIXn1, ...), each in a namespace of its own
#   at its address, port 7000.
# ns_gateway_start NAME: a gateway in namespace NAME (made if missing) at its
#   address, port 10809, directory $tmp/gw-NAME; sets gw_pids[NAME].
# ns_gateway_stop NAME: stops it (SIGTERM: it lets its SR locks go).
# ns_cluster_stop: kills the etcd, the nodes and every gateway (kill -9).
# vmg NAME ARGS...: the vmstore CLI through gateway NAME's directory.
#
# A Ceph cluster from Debian's packages (ceph 16):
# ceph_install: installs ceph-mon, ceph-osd, ceph-mgr and ceph-common if
#   missing and checks that fio has its rbd engine.
# ceph_start DIR OSDS SIZE [mgr]: one monitor and OSDS BlueStore OSDs on 4 GiB
#   files in DIR, a pool "rbd" of SIZE copies (min size 1), every OSD a host of
#   its own in the CRUSH sense (chooseleaf type 0); with "mgr", a manager too
#   (what `ceph pg stat` asks). Sets $ceph_dir and exports CEPH_CONF. Exits on failure.
# ceph_image NAME SIZE: an RBD image rbd/NAME of SIZE filled with random data.
# ceph_all_clean: true when every placement group is active+clean (needs mgr).
# cephc ARGS...: the ceph CLI on it (60 s at most).
# rbd_fio POOL IMAGE SECONDS [FIO_ARGS...] -> "IOPS MEAN_LATENCY_US", the
#   paper's load (as bench_fio).
# ceph_osd_pid ID: the pid of OSD ID.
# ceph_stop: kills every daemon started (the caller's EXIT trap calls it).

gw_uri=
gw_port=
gw_dir=
vmsc() { "$bin" --etcd "$etcd_url" --gateway-dir "$gw_dir" "$@"; }
vmstore_cluster() {
  local name=$1 count=$2 size=$3 n
  start_etcd "etcd-$name"
  "$bin" cluster init --etcd "$etcd_url" --replicas 2 >/dev/null
  for n in $(seq 1 "$count"); do start_node "$name$n"; done
  gw_port=$(free_port)
  gw_dir=$tmp/gw-$name
  "$bin" --etcd "$etcd_url" --gateway-dir "$gw_dir" serve --listen "127.0.0.1:$gw_port" >"$tmp/gw-$name.log" 2>&1 &
  others+=($!)
  wait_for_log "$tmp/gw-$name.log" "nbd://" gateway
  vmsc vm create b >/dev/null
  vmsc disk create b d --size "$size" >/dev/null
  gw_uri=nbd://127.0.0.1:$gw_port/b/d
  bench_wait_port "$gw_uri"
  fio --name=fill --ioengine=nbd --uri="$gw_uri" --rw=write --bs=1M --iodepth=4 --size="$size" >/dev/null
}
vmstore_cluster_stop() {
  { kill -9 "${nodes[@]}" "${others[@]}" "$etcd_pid"; wait; } 2>/dev/null || true
  nodes=()
  others=()
  etcd_pid=
}

declare -A gw_pids
ns_cluster() {
  local prefix=$1 count=$2 replicas=$3 i n
  etcd_host=$ns_net.1 start_etcd "etcd-$prefix"
  "$bin" cluster init --etcd "$etcd_url" --replicas "$replicas" >/dev/null
  for i in $(seq 1 "$count"); do
    n=${prefix}n$i
    netns_add "$n"
    ip netns exec "$ns_prefix-$n" "$bin" node serve --etcd "$etcd_url" --listen "${ns_ip[$n]}:7000" \
      --data "$tmp/data-$n" --name "$n" --lease-ttl 2 >"$tmp/node-$n.log" 2>&1 &
    nodes+=($!)
    wait_for_log "$tmp/node-$n.log" "node: serving" "node $n"
  done
}
ns_gateway_start() {
  local name=$1 from
  [[ -n ${ns_ip[$name]:-} ]] || netns_add "$name"
  from=1
  [[ ! -f $tmp/gw-$name.log ]] || from=$(($(wc -l <"$tmp/gw-$name.log") + 1))
  ip netns exec "$ns_prefix-$name" "$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw-$name" serve \
    --listen "${ns_ip[$name]}:10809" >>"$tmp/gw-$name.log" 2>&1 &
  gw_pids[$name]=$!
  others+=($!)
  wait_for_log "$tmp/gw-$name.log" "nbd://" "gateway $name" "$from"
}
ns_gateway_stop() {
  kill "${gw_pids[$1]}" 2>/dev/null || true
  wait "${gw_pids[$1]}" 2>/dev/null || true
}
ns_cluster_stop() { vmstore_cluster_stop; }
vmg() {
  local name=$1
  shift
  "$bin" --etcd "$etcd_url" --gateway-dir "$tmp/gw-$name" "$@"
}

ceph_dir=
ceph_install() {
  if ! command -v ceph-osd >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v ceph-mgr >/dev/null ||
    ! command -v rbd >/dev/null; then
    echo "installing ceph (ceph-mon ceph-osd ceph-mgr ceph-common) for the comparison" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q ceph-mon ceph-osd ceph-mgr ceph-common >/dev/null
  fi
  fio --enghelp 2>/dev/null | grep -qx '[[:space:]]*rbd' || { echo "this fio has no rbd engine" >&2; exit 1; }
}

cephc() { timeout 60 ceph -c "$ceph_dir/ceph.conf" "$@" 2>/dev/null; }

ceph_start() {
  local c=$1 osds=$2 size=$3 mgr=${4:-} fsid mon_port i u id
  ceph_dir=$c
  mkdir -p "$c"/{run,log,mon,osd,mgr/ceph-a}
  fsid=$(uuidgen)
  mon_port=$(free_port)
  cat >"$c/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = 127.0.0.1:$mon_port
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = $size
osd pool default min size = 1
osd crush chooseleaf type = 0
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 4294967296
run dir = $c/run
log file = $c/log/\$name.log
admin socket = $c/run/\$name.asok
mon data = $c/mon/\$cluster-\$id
osd data = $c/osd/\$cluster-\$id
mgr data = $c/mgr/\$cluster-\$id
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail crit = 1
CONF
  monmaptool --create --add a "127.0.0.1:$mon_port" --fsid "$fsid" "$c/monmap" >/dev/null
  ceph-authtool --create-keyring "$c/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-mon -c "$c/ceph.conf" --mkfs -i a --monmap "$c/monmap" --keyring "$c/mon.keyring"
  ceph-mon -c "$c/ceph.conf" -i a
  [[ $mgr != mgr ]] || ceph-mgr -c "$c/ceph.conf" -i a
  for i in $(seq 1 "$osds"); do
    u=$(uuidgen)
    id=$(cephc osd new "$u")
    mkdir -p "$c/osd/ceph-$id"
    ceph-osd -c "$c/ceph.conf" -i "$id" --mkfs --osd-uuid "$u" >/dev/null 2>&1
    # The first start can lose a race with its own registration; once more.
    ceph-osd -c "$c/ceph.conf" -i "$id" 2>/dev/null || { sleep 1; ceph-osd -c "$c/ceph.conf" -i "$id" 2>/dev/null; }
  done
  for _ in $(seq 1 60); do
    cephc osd stat | grep -q "$osds up" && break
    sleep 1
  done
  cephc osd stat | grep -q "$osds up" || { echo "ceph: $osds OSDs did not come up: $(cephc osd stat)" >&2; exit 1; }
  cephc osd pool create rbd 32 32 >/dev/null
  cephc osd pool set rbd size "$size" >/dev/null
  rbd -c "$c/ceph.conf" pool init rbd
  export CEPH_CONF=$c/ceph.conf
}

ceph_image() {
  rbd create "rbd/$1" --size "$2"
  fio --name=fill --ioengine=rbd --clientname=admin --pool=rbd --rbdname="$1" --rw=write --bs=1M --iodepth=4 >/dev/null
}

ceph_all_clean() {
  cephc pg stat --format json |
    jq -e '.pg_summary as $s | $s.num_pgs > 0 and ([$s.num_pg_by_state[] | select(.name == "active+clean") | .num] | add) == $s.num_pgs' \
      >/dev/null
}

ceph_osd_pid() { pgrep -f -- "ceph-osd -c $ceph_dir/ceph.conf -i $1\$"; }

rbd_fio() {
  local pool=$1 image=$2 secs=$3
  shift 3
  fio --name=paper --ioengine=rbd --clientname=admin --pool="$pool" --rbdname="$image" \
    --rw=randrw --rwmixread=67 --bs=2k --iodepth=16 --time_based --runtime="$secs" --ramp_time=1 \
    --output-format=json "$@" 2>/dev/null | sed -n '/^{/,$p' |
    jq -r '.jobs[0] | [(.read.iops + .write.iops), ((.read.lat_ns.mean * .read.iops + .write.lat_ns.mean * .write.iops) / (.read.iops + .write.iops) / 1000)] | @tsv'
}

ceph_stop() {
  [[ -n $ceph_dir ]] || return 0
  pkill -9 -f "ceph-(mon|osd|mgr) -c $ceph_dir" 2>/dev/null || true
}
