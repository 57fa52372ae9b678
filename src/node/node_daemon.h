// The storage node daemon behind `vmstore node serve`: opens its data
// directory (node_dir.h), serves its containers (container_server.h),
// registers in etcd under a lease kept alive every TTL/3, joins the ring
// (by a move once the cluster holds data: gateway/move.h), drives moves
// when it is the first node by name (declaring members down past
// down_out_s out), deletes the copies a finished move left here, and runs
// until SIGTERM or SIGINT (then it revokes its lease, so it shows as
// gone at once rather than after the TTL).
//
// Errors: what etcd, the data directory or the listener say, each naming the
// thing: "cannot reach etcd at URL", "no VMStore cluster in this etcd", a
// directory of another cluster or in use.
#pragma once

#include <string>

#include "vmstore/env.h"
#include "vmstore/status.h"

namespace vmstore::node {

struct NodeOptions {
  std::string etcd;    // endpoints, comma-separated
  std::string listen;  // HOST:PORT the gateways reach (port 0: any free one)
  std::string data_dir;
  std::string name;  // "" = the host name
  std::string zone;
  uint32_t weight = 1;
  int lease_ttl_s = 10;
  // A ring member down (unregistered) this long is *out*: the move driver
  // moves its data to the other nodes from the surviving copies.
  int down_out_s = 600;
  // Copies the ring no longer places here are deleted once the ring has
  // stayed still (no move) this long and every owner holds the object.
  int stray_grace_s = 30;
  // Kept free for clients: copies from repairs and moves are refused below
  // it, and the node does not join a ring that would place more here than
  // fits above it (0: 5 % of the file system, at most 1 GiB).
  uint64_t reserve_bytes = 0;
  Env* env = nullptr;  // nullptr: Env::Default()
};

Status RunNode(const NodeOptions& options);

}  // namespace vmstore::node
