// The "cluster" SR type: an SR whose disks live on the storage nodes. Each
// cluster SR is one engine instance - a native pool - whose own files go
// through a RemoteEnv and whose containers through a RemoteBlockStore, in the
// SR's share of the cluster's container space (docs/CLUSTER.md, "Pools on
// the nodes"). One gateway at a time opens an SR: it holds the SR's writer
// lock in etcd (kept alive by a thread) and stops acknowledging writes - and
// refuses every change - the moment it can no longer be sure it holds it.
//
// Errors: FailedPrecondition naming the holder when another gateway holds the
// SR; InvalidArgument for a bad SR location; those of the pool otherwise;
// IOError ("lost the writer lock") for writes after the lock was lost.
// Thread-safety: as Backend. Ownership: the backend shares the context.
#pragma once

#include <memory>
#include <string>

#include "cluster/container_wire.h"
#include "cluster/etcd.h"
#include "cluster/membership.h"
#include "cluster/miss_log.h"
#include "cluster/replica_set.h"
#include "cluster/ring_view.h"
#include "util/periodic.h"
#include "vmstore/backend.h"

namespace vmstore::gateway {

// What every cluster SR of a process shares: the etcd connection, the
// cluster's record, the ring (kept current by a poller, every second), and
// who this process is.
struct ClusterContext {
  ~ClusterContext() { ring_poller.reset(); }  // stopped before what it uses goes
  std::unique_ptr<cluster::Etcd> etcd;
  std::string endpoints;
  cluster::ClusterRecord cluster;
  std::shared_ptr<cluster::RingView> ring;
  std::unique_ptr<Periodic> ring_poller;
  std::string holder;  // "HOST pid N": shown to whoever finds a lock taken
  int lock_ttl_s = 10;
  std::chrono::milliseconds node_timeout{5000};
};

// The etcd keys of an SR's pool: its record ({"index": N}) and its lock.
std::string PoolKey(const std::string& location);
std::string PoolLockKey(const std::string& location);
// ROOT/holders/pool/LOCATION: the fence of the lock holder that last opened
// the pool (a gateway that lost its lock takes it again only while this
// still names its own fence).
std::string HolderKey(const std::string& location);
// Pools take container numbers [index << kPoolSpanBits, (index + 1) << kPoolSpanBits)
// (cluster/container_wire.h): 2^16 pools of 2^17 containers (8 TiB in 64 MiB
// containers) in the 33-bit space.
using cluster::kMaxPools;
using cluster::kPoolSpanBits;

// Pool `index`'s miss records, and the options of its replicated stores
// (fence: its writer lock's; 0 to read only).
std::shared_ptr<cluster::MissLog> PoolMisses(const std::shared_ptr<ClusterContext>& ctx, uint64_t index);
cluster::RemoteStoreOptions PoolStoreOptions(const std::shared_ptr<ClusterContext>& ctx, uint64_t index,
                                             uint64_t fence);
// Every cluster SR's pool: location -> index (from the records in etcd).
StatusOr<std::map<std::string, uint64_t>> ListPools(cluster::Etcd& etcd);

// Opens (options.create: makes) the cluster SR at `location` (its name on
// the cluster: letters, digits, '.', '_', '-', at most 64).
StatusOr<std::unique_ptr<backend::Backend>> OpenClusterBackend(std::shared_ptr<ClusterContext> ctx,
                                                               const std::string& location,
                                                               const backend::OpenOptions& options);

}  // namespace vmstore::gateway
