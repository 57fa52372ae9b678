// RemoteBlockStore: the BlockStore of a gateway's engine - every container
// call goes to the storage nodes that the ring places the container on.
//
//  - Writes are coalesced into runs of at most 512 KiB per container (the
//    article's buffer) and each run is sent to every replica.
//  - SyncTouched syncs every node written since the last sync; it succeeds
//    when every container touched is durable on at least one of its replicas
//    that took the writes, and reports the others as degraded.
//  - Reads go to the first replica that answers with verified units (nodes
//    check units against their sums) and fall back to the next on an I/O
//    error or a damaged unit. A replica that missed a change of the
//    container is never read from: its units are valid but may be old.
//  - A replica that is down or refuses a write makes its container
//    *degraded*: the miss is recorded (options.misses, durably, before the
//    call returns), the call succeeds on the others, the replica gets no
//    more changes of it, and degraded() lists it until Repair() copies the
//    container back to it (docs/CLUSTER.md). Attach loads the misses
//    recorded before, by this gateway or a dead one. (ReplicaSet does the
//    replica calls.)
//  - Containers past the pool's span are other pools' (a clone across SRs
//    reads their blocks: PoolOptions::container_span): read with the misses
//    their pool recorded (options.foreign_misses), never changed.
//
// Thread-safety: as BlockStore (reads concurrently; mutations serialised by
// the engine); degraded() may be called from any thread.
// Ownership: owns its connections; the ring is copied.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/replica_set.h"
#include "util/mutex.h"
#include "vmstore/block_store.h"

namespace vmstore::cluster {

class RemoteBlockStore final : public BlockStore {
 public:
  RemoteBlockStore(Ring ring, RemoteStoreOptions options);
  // Places containers with `view` as it is at each call (the ring may move).
  RemoteBlockStore(std::shared_ptr<RingView> view, RemoteStoreOptions options);

  Status Attach(const ContainerGeometry& geometry) override;
  StatusOr<std::vector<uint64_t>> List() override;
  Status ReadUnits(uint64_t addr, uint32_t units, char* dst) override;
  Status ReadSums(uint64_t addr, uint32_t units, uint64_t* dst) override;
  Status ReadPartOfBlock(uint64_t addr, uint32_t block_units, uint32_t u0, uint32_t u1, char* dst,
                         uint64_t* sums) override;
  Status WriteBlocks(std::vector<UnitWrite> writes) override;
  Status SyncTouched() override;
  Status Punch(uint64_t addr, uint32_t units) override;
  Status PunchSums(uint64_t container, uint64_t page) override;
  Status DeleteContainer(uint64_t container) override;
  Status TruncateAt(uint64_t container, uint64_t index) override;
  StatusOr<uint64_t> AllocatedBytes() override;
  StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> AllocatedUnits(uint64_t container) override;
  Status CheckHeader(uint64_t container) override;

  // Containers with a replica that missed a change, and the names of the nodes that missed it.
  std::map<uint64_t, std::set<std::string>> degraded() const;
  // Copies every container of this pool back to the replicas that missed a
  // change of it and are reachable again, and clears their records. Safe
  // while the engine writes (a container's changes wait for its copy).
  RepairReport Repair();
  // The writer lock was taken again (with nobody holding it meanwhile):
  // every call carries its new fence from now on.
  void SetFence(uint64_t fence) { replicas_.SetFence(fence); }
  // Round trips to nodes since the store was made (reads and writes count one each).
  uint64_t round_trips() const { return replicas_.round_trips(); }

 private:
  // The cluster's number of the engine's container `container`: its own
  // (below the span) moved by the base, another pool's as it is.
  uint64_t Global(uint64_t container) const;
  bool Foreign(uint64_t container) const;
  // The misses recorded by the pool that owns foreign container
  // `container` (loaded at its first read, again at each Repair); nullptr
  // for this pool's own.
  const MissSet* ForeignMisses(uint64_t container);
  // A request for the engine's container `container` (translated to the
  // cluster's number).
  ContainerRequest Req(ContainerOp op, uint64_t container, uint64_t first, uint32_t count) const;
  // Reads from the first owner that answers well.
  StatusOr<std::string> ReadFrom(uint64_t container, const ContainerRequest& r, std::string_view payload = {});
  // Sends to every owner; OK when at least one took it (the others degraded).
  Status ToAll(uint64_t container, const ContainerRequest& r, std::string_view payload);
  // The miss records' name of the engine's container `container`, and the
  // inverse: whether the number after "container:" is one of this pool's
  // (then *global is the cluster's number).
  std::string ContainerObject(uint64_t container) const;
  bool OwnContainer(const std::string& number, uint64_t* global) const;
  // Brings `stale`'s copy of the cluster's container `global` (miss record
  // `object`) to a good replica's: the units whose sums differ (or that fail
  // their sums on `stale`) are copied, the ones it no longer holds punched.
  // Not `final`: the bulk, while writes go on, throttled by the node as a
  // recovery copy; `final`: under the container's stripe lock, strict.
  Status SyncContainer(const std::string& object, uint64_t global, NodeClient* stale, uint64_t* bytes, bool final);

  const RemoteStoreOptions opts_;
  ReplicaSet replicas_;
  mutable Mutex mu_;
  std::map<NodeClient*, std::set<uint64_t>> touched_ GUARDED_BY(mu_);  // node -> containers written since sync
  Mutex foreign_mu_;
  std::map<uint64_t, std::unique_ptr<MissSet>> foreign_ GUARDED_BY(foreign_mu_);  // pool index -> its misses
};

}  // namespace vmstore::cluster
