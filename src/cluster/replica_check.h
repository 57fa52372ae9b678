// CheckReplicas: what `vmstore cluster fsck` checks on the storage nodes,
// read-only, while gateways go on serving. For every container and pool file
// that any node holds:
//
//  - each of the R owners the ring names holds a copy; a copy missing where
//    the ring wants one is *missing*, unless a miss record says that replica
//    is waiting for repair (then it is *degraded*);
//  - every copy that is not on record as stale is read whole: the node checks
//    each container unit against its sum as it reads (a bad one is *damaged*),
//    and the copies must agree (units, sums; a file's bytes), else they
//    *differ* - checked twice, a second apart, so a write in flight from a
//    gateway is not taken for damage;
//  - a copy on a node the ring does not name is a *stray* (space to free, not
//    damage).
//
// Errors: Status for a failure of the check itself; what it finds goes in the
// report. Thread-safety: a function; the clients are used concurrently safely.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cluster/node_client.h"
#include "cluster/ring.h"

namespace vmstore::cluster {

struct ReplicaCheckOptions {
  const Ring* ring = nullptr;
  int replicas = 2;
  // Every node of the ring, by name (borrowed).
  std::map<std::string, NodeClient*> nodes;
  // The pool files checked: those whose names start so (a gateway's pools
  // keep theirs under "pool-N/").
  std::string file_prefix = "pool-";
  // Miss records: object ("container:N", "file:PATH") -> nodes that missed it.
  std::map<std::string, std::set<std::string>> misses;
};

struct ReplicaReport {
  uint64_t containers = 0, files = 0;
  uint64_t copies_verified = 0, bytes_verified = 0;
  std::vector<std::string> missing, degraded, damaged, differ, strays, unreachable;
  // Damaged copies of objects that also have good copies (all equal): what
  // `fsck --repair` records as missed, for the gateway holding the pool to
  // copy back. (object, node)
  std::vector<std::pair<std::string, std::string>> repairable;
  // No copy short of R, none bad, every node answered (strays are not damage).
  bool clean() const {
    return missing.empty() && degraded.empty() && damaged.empty() && differ.empty() && unreachable.empty();
  }
};

StatusOr<ReplicaReport> CheckReplicas(const ReplicaCheckOptions& options);

// An object as the nodes list it: its ring key and the nodes holding a copy.
struct ListedObject {
  uint64_t key = 0;
  std::set<std::string> holders;
  uint64_t bytes = 0;  // allocated, the largest copy's (with `sizes`)
};
// Every container and pool file (names starting with `file_prefix`) that
// `nodes` hold, by miss-record name ("container:N", "file:PATH"); the nodes
// that do not answer go to *down with why. `sizes`: with their bytes too.
StatusOr<std::map<std::string, ListedObject>> ListObjects(const std::map<std::string, NodeClient*>& nodes,
                                                          const std::string& file_prefix,
                                                          std::map<std::string, Status>* down, bool sizes = false);
// Where two copies of `object` differ, asked of both nodes at once (each
// request in flight to both before either answer is read, so a write in
// flight to both rarely shows): for a container the units whose sums differ
// (a unit of zeros counts as a hole, as in CheckReplicas); for a pool file the
// 64 KiB chunks whose digests differ, and UINT64_MAX when the sizes do.
// What a move compares a new owner's copy with an old owner's by: a unit a
// write is changing shows in one look, a stale one in every look.
struct CopyDiff {
  Status a_error, b_error;  // a copy that could not be read (NotFound: none)
  std::set<uint64_t> differ;
};
CopyDiff CopyDifferences(NodeClient* a, NodeClient* b, const std::string& object, uint64_t key);

}  // namespace vmstore::cluster
