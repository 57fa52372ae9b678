// Moving data to a new member list (docs/CLUSTER.md, "Moving data"): a node
// joining, a node drained or removed. Copy first, switch last:
//
//  1. StartMove records, for every object whose owners under the new list
//     include a node that is not an owner now, that node as having missed
//     it (its pool's miss records, as for a replica that missed a write),
//     then switches the ring by compare-and-swap: epoch + 1, the new
//     members, the old ones kept as `previous`. From then on every store
//     writes an object to its new and its old owners, skipping recorded
//     nodes, and reads the new owners first (RingView).
//  2. MoveDriver::Pass, run again and again (by the storage nodes), records
//     what was written on the old owners only before every gateway followed
//     the ring (a new owner without the object, or whose copy differs), and
//     copies each recorded object to its new owner - the gateway holding a
//     pool does it in its repair pass; for a pool nobody holds the driver
//     takes the pool's lock for the time of the copy.
//  3. When no new owner waits for a copy and each one's copy was compared
//     with an old owner's, the driver switches the ring again without
//     `previous`. Only then are the old owners' copies strays (nothing was
//     dropped before its replacement was verified and recorded).
//
// Errors: FailedPrecondition when a move is already under way, or for a
// member list the ring cannot take; the etcd and node errors otherwise.
// Thread-safety: StartMove is a function; a MoveDriver is used by one thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/replica_check.h"
#include "gateway/cluster_backend.h"

namespace vmstore::gateway {

struct MoveStart {
  cluster::RingRecord ring;  // as switched
  uint64_t objects = 0;      // found on the nodes
  uint64_t moving = 0;       // whose owners change
  uint64_t recorded = 0;     // (object, new owner) copies to make
  uint64_t bytes = 0;        // ... their allocated bytes
};

// Starts moving every object to its owners under `members`. A member list
// that places nothing differently is not a move (the ring is left as is).
StatusOr<MoveStart> StartMove(const std::shared_ptr<ClusterContext>& ctx, std::vector<cluster::RingNode> members);

// Gives up the move under way: the ring goes back to its previous members
// (epoch + 1), which were written all along; the records made for the new
// owners are cleared and their copies become strays. FailedPrecondition when
// no move is under way.
StatusOr<cluster::RingRecord> CancelMove(const std::shared_ptr<ClusterContext>& ctx);

struct MoveProgress {
  bool moving = false;               // a move is under way after this pass
  bool finished = false;             // this pass ended it
  uint64_t waiting = 0;              // copies new owners still wait for
  uint64_t bytes_left = 0;           // ... their allocated bytes
  uint64_t unverified = 0;           // new owners' copies not yet compared with an old owner's
  uint64_t repaired = 0, bytes = 0;  // copies this pass made (pools no gateway holds)
  uint64_t held_elsewhere = 0;       // pools with copies waiting, held by a gateway (it copies)
  Status first_error;                // the first thing that went wrong this pass
};

class MoveDriver {
 public:
  explicit MoveDriver(std::shared_ptr<ClusterContext> ctx) : ctx_(std::move(ctx)) {}
  // One pass over the move under way (nothing when none is).
  StatusOr<MoveProgress> Pass();

 private:
  // Updates the move's progress record (cluster::MoveRecord).
  void RecordProgress(uint64_t epoch, const MoveProgress& p);

  static constexpr int kLooks = 3;  // at a new owner's copy, 200 ms apart
  std::shared_ptr<ClusterContext> ctx_;
  uint64_t epoch_ = 0;                          // the ring epoch verified_ belongs to
  std::chrono::steady_clock::time_point seen_;  // when this driver first saw that epoch
  std::set<std::string> verified_;              // "object@node": copies found equal to an old owner's
  // With no move under way: the records of nodes the ring does not place
  // their objects on, as the last pass saw them, and the ring's revision
  // then. Cleared when a second pass sees them under the same revision (a
  // writer that lagged behind the ring records a miss at an old owner; a
  // starting move records its new owners just before it switches the ring,
  // which the revision tells apart).
  std::map<std::string, std::set<std::string>> off_owner_records_;
  int64_t off_owner_revision_ = 0;
};

// The copies a move still waits for, from the miss records: (object, node)
// pairs whose node is an owner of the object under `ring` but was not one
// under its previous members. 0 when no move is under way.
// With `sizes` (a listing with sizes), *bytes gains their allocated bytes.
uint64_t WaitingCopies(const cluster::RingRecord& ring, int replicas,
                       const std::map<std::string, std::set<std::string>>& misses,
                       const std::map<std::string, cluster::ListedObject>* sizes = nullptr, uint64_t* bytes = nullptr);

}  // namespace vmstore::gateway
