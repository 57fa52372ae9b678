# Network namespaces for cluster tests: every storage node and gateway in its
# own namespace with its own address on one bridge, as on separate hosts.
# The test process stays in the root namespace, where the bridge has the
# subnet's .1 (etcd listens there). Needs root and `ip`; under CI=true a
# failure to make them fails the test, elsewhere the test is skipped loudly.
#
#   netns_setup                 the bridge and subnet ($ns_prefix, $ns_net.1)
#   netns_add NAME              a namespace NAME; sets ns_ip[NAME]
#   in_ns NAME CMD...           runs CMD in NAME's namespace (to background a
#                               process and keep its pid, call `ip netns exec
#                               $ns_prefix-NAME CMD &` directly: it execs CMD)
#   ns_link_down NAME / ns_link_up NAME   cut NAME off the bridge and back
#   ns_shape NAME RATE          tc tbf on NAME's link (e.g. 100mbit), into NAME
#   ns_shape_both NAME RATE     the same both ways (what NAME sends too)
# netns_cleanup (called by the EXIT trap) removes them all.
declare -A ns_ip ns_veth
ns_names=()
ns_prefix="vms$$"
ns_bridge="vmsbr$$"
# A /24 of 10.0.0.0/8 chosen by pid, so parallel tests do not collide.
ns_net="10.$((100 + $$ % 100)).$((($$ / 100) % 250))"
ns_count=0

netns_fail() {
  if [[ "${CI:-}" == "true" ]]; then
    echo "FAIL: network namespaces: $1"
    exit 1
  fi
  echo "SKIP (not in CI): network namespaces: $1" >&2
  exit 0
}

netns_setup() {
  command -v ip >/dev/null || netns_fail "the ip command is missing (apt-get install iproute2)"
  [[ $(id -u) -eq 0 ]] || netns_fail "namespaces need root"
  ip link add "$ns_bridge" type bridge 2>/dev/null || netns_fail "cannot make bridge $ns_bridge"
  ip addr add "$ns_net.1/24" dev "$ns_bridge" && ip link set "$ns_bridge" up || netns_fail "cannot bring up $ns_bridge"
}

netns_add() {  # netns_add NAME
  local name=$1 ns="$ns_prefix-$1" veth
  ns_count=$((ns_count + 1))
  veth="v$$n$ns_count"
  ip netns add "$ns" || netns_fail "cannot make namespace $ns"
  ns_names+=("$name")
  ip link add "$veth" type veth peer name eth0 netns "$ns" || netns_fail "cannot make veth $veth"
  ip link set "$veth" master "$ns_bridge" up
  ip -n "$ns" addr add "$ns_net.$((10 + ns_count))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ns_ip[$name]="$ns_net.$((10 + ns_count))"
  ns_veth[$name]="$veth"
}

in_ns() {  # in_ns NAME CMD...
  local name=$1
  shift
  ip netns exec "$ns_prefix-$name" "$@"
}

ns_link_down() { ip link set "${ns_veth[$1]}" down; }
ns_link_up() { ip link set "${ns_veth[$1]}" up; }
ns_shape() { tc qdisc replace dev "${ns_veth[$1]}" root tbf rate "$2" burst 256kbit latency 50ms; }
ns_shape_both() {
  ns_shape "$1" "$2"
  ip netns exec "$ns_prefix-$1" tc qdisc replace dev eth0 root tbf rate "$2" burst 256kbit latency 50ms
}

netns_cleanup() {
  local n
  for n in "${ns_names[@]}"; do ip netns del "$ns_prefix-$n" 2>/dev/null; done
  ip link del "$ns_bridge" 2>/dev/null
  return 0
}
