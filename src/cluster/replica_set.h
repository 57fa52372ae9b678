// ReplicaSet: how a gateway's pool talks to the replicas of its objects - a
// pool file ("file:PATH") or a container ("container:N", the cluster's
// number) - for RemoteEnv and RemoteBlockStore alike:
//
//  - Read() asks the object's owners in ring order, skipping any replica on
//    record as having missed a change (its copy may be old), and returns the
//    first good answer; a damaged replica's error outranks an unreachable one's.
//    When every owner answers "not found", another node's copy is read.
//  - Change() sends a change to every owner that has not missed one (all
//    sent before any answer is read: one round trip, not R); when
//    one took it, each replica that failed is recorded as missing the object
//    (durably, before Change returns) and left out until repaired. When none
//    took it the change fails and nothing is recorded (no replica is behind
//    another; marking them all would leave no good copy).
//    A node's refusal because a newer holder of the pool's lock wrote
//    ("fenced:") is returned at once and is not a miss; one because the
//    change was placed by an older ring than the node knows ("stale ring:")
//    has the ring loaded again (refresh_ring) and the change placed again.
//    A delete also goes
//    to the ring's other nodes (a stray copy must not outlive its object).
//  - Repair() brings one missed replica back: under the object's exclusive
//    stripe lock (changes hold it shared) the caller's `copy` rebuilds it
//    from a good replica, then the miss record is cleared.
//
// Thread-safety: thread-safe. Ownership: owns a client per ring node.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/miss_log.h"
#include "cluster/node_client.h"
#include "cluster/ring.h"
#include "cluster/ring_view.h"
#include "util/shared_mutex.h"

namespace vmstore::cluster {

struct RemoteStoreOptions {
  // The cluster's uuid (every container's header carries it, whichever pool
  // wrote it) and units per container; Attach refuses a pool of another size.
  ContainerGeometry cluster;
  int replicas = 2;
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  int connections_per_node = 16;  // idle connections kept per node (NodeClient: at most 32 in use)
  // The pool's share of the cluster's container space: the engine's
  // container c is the cluster's container_base + c, and List() shows only
  // [container_base, container_base + container_span). 0 spans: everything
  // (one pool alone on the nodes, as in tests).
  uint64_t container_base = 0;
  uint64_t container_span = 0;
  // Where misses are recorded durably (docs: miss_log.h); nullptr: in memory
  // only (a single process's tests).
  std::shared_ptr<MissLog> misses;
  // Another pool's records, for reads of its containers (by pool index;
  // empty: none known).
  std::function<std::shared_ptr<MissLog>(uint64_t pool)> foreign_misses;
  // The pool writer lock's fence, carried by every call; nodes refuse changes
  // carrying a smaller fence than one they have seen for the pool. 0: none.
  uint64_t fence = 0;
  // Whether the pool's writer lock is still held: a repair clears a record
  // only then (a holder paused past its lease must not vouch for a copy
  // while another holder writes). Empty: always.
  std::function<bool()> holds_lock;
  // Loads the ring from etcd into the view: a change a node refuses as
  // placed by an older ring than it knows is placed again after it (at most
  // twice). Empty: the refusal fails the change.
  std::function<Status()> refresh_ring;
  // How many copies a repair makes into one node at once (read at each
  // Repair; within the nodes' copy limit, or the copies over it wait for
  // the next pass). Empty: 1.
  std::function<int()> copiers_per_node;
};

// Whether a node refused a call because a newer holder of the pool's writer
// lock wrote since (the caller has lost the pool).
bool IsFenced(const Status& s);
// Whether a node refused a change placed by an older ring than it knows.
bool IsStaleRing(const Status& s);

// A node's answer that a copy must wait - its limit of copies under way,
// its reserve of free space: the copier leaves the record for its next pass.
inline bool CopyWaits(const Status& s) { return s.code() == Code::kFailedPrecondition || s.code() == Code::kNoSpace; }

// What one repair pass did.
struct RepairReport {
  uint64_t repaired = 0;  // (object, replica) pairs brought back and cleared
  uint64_t left = 0;      // still missed (replica unreachable, no good copy, ...)
  uint64_t bytes = 0;     // copied
  Status first_error;     // why the first one left was left
};

class ReplicaSet {
 public:
  // Places objects with `view` as it is at each call (the ring may move).
  ReplicaSet(std::shared_ptr<RingView> view, const RemoteStoreOptions& options);
  ReplicaSet(const Ring& ring, const RemoteStoreOptions& options);

  // The owners of ring key `key`, primary first; with `extras`, also the
  // previous owners that are not owners now (during a move).
  std::vector<NodeClient*> Owners(uint64_t key, bool extras = false);
  // The client of every node of the ring (during a move, of both member lists).
  std::vector<NodeClient*> Nodes();
  // Whether `c` is still the client of its node (not one replaced when the
  // node came back at another address).
  bool IsCurrent(NodeClient* c);

  // `misses`: another pool's records to skip by (nullptr: this set's own).
  // `record_damage`: a copy its node finds damaged while another answers is
  // recorded (not by a copy racing with writes: Repair's first pass).
  StatusOr<std::string> Read(const std::string& object, uint64_t key, const ContainerRequest& r,
                             std::string_view payload = {}, const MissSet* misses = nullptr, bool record_damage = true);
  // `took` (may be empty) is told each replica that took the change.
  Status Change(const std::string& object, uint64_t key, ContainerRequest r, std::string_view payload,
                const std::function<void(NodeClient*)>& took = {});

  // For each missed replica of an object whose name starts with `kind` and
  // that is still an owner (or a move's old owner), while another replica
  // has a good copy - the copies to different nodes at once, each node's in
  // turn:
  // copy(object, key, stale, bytes, false) copies the bulk while changes go
  // on (they skip the recorded replica), then, under the object's exclusive
  // stripe lock, copy(..., true) makes the stale copy equal to a good one
  // (reading with Read(), which skips it, and writing to it directly - not
  // with Change()), and only then is the record cleared. So clients wait
  // for the catching up of what changed during the bulk, not for the copy. `key_of` gives an
  // object's ring key from the rest of its name (false: not this store's,
  // skipped).
  // *bytes: what it copied. `final`: under the lock, must leave the copy equal.
  // `end` (may be empty) makes the request that tells a node a copy of the
  // object is over (kFlagCopyEnd, its payload): sent to every owner after
  // each copy, so the next one need not wait for the node's idle window.
  using CopyFn =
      std::function<Status(const std::string& object, uint64_t key, NodeClient* stale, uint64_t* bytes, bool final)>;
  // A request about one object, with its payload.
  using RequestFn = std::function<std::pair<ContainerRequest, std::string>(const std::string& object)>;
  RepairReport Repair(const std::string& kind, const std::function<bool(const std::string&, uint64_t*)>& key_of,
                      const CopyFn& copy, const RequestFn& end = {});

  // A node of the ring (either member list), other than `stale` and those
  // recorded against `object`, for which `holds` is true: where a repair
  // copies from when no owner holds the object (a fault in the middle of a
  // move can leave its only copies off its owners). Logged; nullptr if none.
  // (A container's repair needs none: Read falls back to such a copy when
  // every owner answers "not found"; a file's existence query answers "no".)
  NodeClient* HolderOffOwners(const std::string& object, NodeClient* stale,
                              const std::function<bool(NodeClient*)>& holds);

  MissSet& misses() { return misses_; }
  const MissSet& misses() const { return misses_; }
  uint64_t round_trips() const { return round_trips_.load(); }
  uint64_t fence() const { return fence_.load(); }
  // The fence of a writer lock taken again after it was lost (nobody else
  // held it meanwhile): every call carries it from now on.
  void SetFence(uint64_t fence) { fence_.store(fence); }

 private:
  SharedMutex& Stripe(const std::string& object);
  // One try of Change(), placed by the ring as it is now.
  Status ChangeOnce(const std::string& object, uint64_t key, ContainerRequest r, std::string_view payload,
                    const std::function<void(NodeClient*)>& took);
  // Sends a delete that `owners` took to every other node of the ring too
  // (best effort; answers ignored): no stray copy outlives its object.
  void DeleteOffOwners(const std::vector<NodeClient*>& owners, const ContainerRequest& r, std::string_view payload);
  // Owners() as placed by the ring state `st`.
  std::vector<NodeClient*> OwnersIn(const RingView::State& st, uint64_t key, bool extras);
  // The ring as it is now; when its epoch moved since the last call, the
  // miss records are loaded first (a move records the new owners as missing
  // what they do not hold yet, before it switches the ring).
  std::shared_ptr<const RingView::State> CurrentRing();
  // The client of node `n` (made at its first use; remade if its address changed).
  NodeClient* Client(const RingNode& n);

  const std::shared_ptr<RingView> view_;
  const RemoteStoreOptions opts_;
  const int replicas_;
  std::atomic<uint64_t> fence_;
  Mutex clients_mu_;
  std::map<std::string, NodeClient*> clients_ GUARDED_BY(clients_mu_);            // by node name
  std::vector<std::unique_ptr<NodeClient>> all_clients_ GUARDED_BY(clients_mu_);  // kept while the set lives
  std::atomic<uint64_t> seen_epoch_{0};
  MissSet misses_;
  std::atomic<uint64_t> round_trips_{0};
  static constexpr size_t kStripes = 64;
  static constexpr size_t kRepairThreads = 8;  // copiers at once
  SharedMutex stripes_[kStripes];
};

}  // namespace vmstore::cluster
