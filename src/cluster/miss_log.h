// MissLog: the durable record of which replica missed a change of which
// object - a pool file ("file:PATH") or a container ("container:N", the
// cluster's number) - so that no gateway, this one or the next after a
// crash, reads that replica's stale copy (docs/CLUSTER.md, "Writes, flushes
// and failures"). A write that a replica missed is acknowledged only after
// the miss is recorded here. Records are cleared by repair (not built yet:
// until then the replica stays out of reads of that object).
//
// Errors: the Etcd interface's. Thread-safety: implementations are thread-safe.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "cluster/etcd.h"
#include "vmstore/status.h"

namespace vmstore::cluster {

class MissLog {
 public:
  virtual ~MissLog() = default;
  // Records that node `node` missed a change of `object`; durable on return.
  virtual Status Record(const std::string& object, const std::string& node) = 0;
  // Every record: object -> nodes.
  virtual StatusOr<std::map<std::string, std::set<std::string>>> Load() = 0;
};

// Records under `prefix` in etcd (a key per object, its value the JSON list
// of nodes), changed by compare-and-swap. Borrows `etcd`.
std::shared_ptr<MissLog> NewEtcdMissLog(Etcd* etcd, std::string prefix);

}  // namespace vmstore::cluster
