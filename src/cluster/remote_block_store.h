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
//    call returns), the call succeeds on the others, and degraded() lists it,
//    for recovery to copy later (docs/CLUSTER.md). Attach loads the misses
//    recorded before, by this gateway or a dead one.
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

#include "cluster/miss_log.h"
#include "cluster/node_client.h"
#include "cluster/ring.h"
#include "util/mutex.h"
#include "vmstore/block_store.h"

namespace vmstore::cluster {

struct RemoteStoreOptions {
  // The cluster's uuid (every container's header carries it, whichever pool
  // wrote it) and units per container; Attach refuses a pool of another size.
  ContainerGeometry cluster;
  int replicas = 2;
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  int connections_per_node = 4;
  // The pool's share of the cluster's container space: the engine's
  // container c is the cluster's container_base + c, and List() shows only
  // [container_base, container_base + container_span). 0 spans: everything
  // (one pool alone on the nodes, as in tests).
  uint64_t container_base = 0;
  uint64_t container_span = 0;
  // Where misses are recorded durably (docs: miss_log.h); nullptr: in memory
  // only (a single process's tests).
  std::shared_ptr<MissLog> misses;
  // The pool writer lock's fence, carried by every call; nodes refuse changes
  // carrying a smaller fence than one they have seen for the pool. 0: none.
  uint64_t fence = 0;
};

// Whether a node refused a call because a newer holder of the pool's writer
// lock wrote since (the caller has lost the pool).
bool IsFenced(const Status& s);

class RemoteBlockStore final : public BlockStore {
 public:
  RemoteBlockStore(Ring ring, RemoteStoreOptions options);

  Status Attach(const ContainerGeometry& geometry) override;
  StatusOr<std::vector<uint64_t>> List() override;
  Status ReadUnits(uint64_t addr, uint32_t units, char* dst) override;
  Status ReadSums(uint64_t addr, uint32_t units, uint64_t* dst) override;
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
  // Round trips to nodes since the store was made (reads and writes count one each).
  uint64_t round_trips() const { return round_trips_.load(); }

 private:
  // A request for the engine's container `container` (translated to the
  // cluster's number).
  ContainerRequest Req(ContainerOp op, uint64_t container, uint64_t first, uint32_t count) const;
  std::vector<NodeClient*> Owners(uint64_t container);
  // Reads from the first owner that answers well.
  StatusOr<std::string> ReadFrom(uint64_t container, const ContainerRequest& r);
  // Sends to every owner; OK when at least one took it (the others degraded).
  Status ToAll(uint64_t container, const ContainerRequest& r, std::string_view payload);
  // The miss records' name of the engine's container `container`.
  std::string ContainerObject(uint64_t container) const;

  const Ring ring_;
  const RemoteStoreOptions opts_;
  std::map<std::string, std::unique_ptr<NodeClient>> clients_;  // by node name; made by Attach
  std::atomic<uint64_t> round_trips_{0};
  mutable Mutex mu_;
  MissSet misses_{opts_.misses};                                       // by the cluster's container number
  std::map<NodeClient*, std::set<uint64_t>> touched_ GUARDED_BY(mu_);  // node -> containers written since sync
};

}  // namespace vmstore::cluster
