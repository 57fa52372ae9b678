// MissLog: the durable record of which replica missed a change of which
// object - a pool file ("file:PATH") or a container ("container:N", the
// cluster's number) - so that no gateway, this one or the next after a
// crash, reads that replica's stale copy (docs/CLUSTER.md, "Writes, flushes
// and failures"). A write that a replica missed is acknowledged only after
// the miss is recorded here. Repair clears a record once the replica has a
// good copy again (ReplicaSet::Repair); until then the replica stays out.
//
// Errors: the Etcd interface's. Thread-safety: implementations are thread-safe.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "cluster/etcd.h"
#include "util/mutex.h"
#include "vmstore/status.h"

namespace vmstore::cluster {

class MissLog {
 public:
  virtual ~MissLog() = default;
  // Records that node `node` missed a change of `object`; durable on return.
  virtual Status Record(const std::string& object, const std::string& node) = 0;
  // Every record: object -> nodes.
  virtual StatusOr<std::map<std::string, std::set<std::string>>> Load() = 0;
  // Removes `node` from `object`'s record (the whole record with its last
  // node); durable on return. OK when it was not there.
  virtual Status Clear(const std::string& object, const std::string& node) = 0;
};

// What one store (RemoteEnv, RemoteBlockStore) knows of misses: the records
// of a MissLog (if any), loaded once and kept in memory, and each new miss
// recorded durably before it counts. Objects are named as in MissLog.
// Thread-safety: thread-safe.
class MissSet {
 public:
  explicit MissSet(std::shared_ptr<MissLog> log) : log_(std::move(log)) {}
  // Loads the log's records (OK without a log).
  Status Load();
  // Replaces what is held with the log's records as they are now (for
  // another pool's set, whose records its own gateway adds and clears).
  Status Reload();
  // Records that `node` missed a change of `object` (durably first, once).
  Status Add(const std::string& object, const std::string& node);
  // Clears that `node` missed `object` (durably first).
  Status Remove(const std::string& object, const std::string& node);
  // The nodes that missed a change of `object`.
  std::set<std::string> Nodes(const std::string& object) const;
  // Every miss whose object starts with `kind`, by the rest of its name.
  std::map<std::string, std::set<std::string>> OfKind(const std::string& kind) const;

 private:
  Status LoadFromLog(bool replace);
  const std::shared_ptr<MissLog> log_;
  mutable Mutex mu_;
  std::map<std::string, std::set<std::string>> nodes_ GUARDED_BY(mu_);
};

// Every pool's records (under ROOT/degraded/pool-N/), by object. For the
// cluster-wide views (status, fsck).
StatusOr<std::map<std::string, std::set<std::string>>> LoadAllMisses(Etcd* etcd);

// Records under `prefix` in etcd (a key per object, its value the JSON list
// of nodes), changed by compare-and-swap. Borrows `etcd`.
std::shared_ptr<MissLog> NewEtcdMissLog(Etcd* etcd, std::string prefix);

// Pool N's records: the prefix ROOT/degraded/pool-N/.
std::string PoolMissPrefix(uint64_t pool);
// The pool an object belongs to: "container:C" is pool C >> kPoolSpanBits's,
// "file:pool-N/..." pool N's. InvalidArgument for another name.
StatusOr<uint64_t> PoolOfObject(const std::string& object);

}  // namespace vmstore::cluster
