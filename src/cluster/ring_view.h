// RingView: the ring a process places objects with, as it last loaded it
// from etcd - shared by every store of the process, swapped whole when the
// ring's epoch moves (a gateway polls it: gateway/cluster_manager.cc).
//
// While data moves to a new member list (RingRecord::previous), an object's
// replicas are its owners under the new members, primary first, and then
// its owners under the previous members that are not among them (extras):
// writes go to both, reads try the new owners first (docs/CLUSTER.md,
// "Moving data").
//
// Thread-safety: thread-safe; Get() returns an immutable snapshot.
#pragma once

#include <memory>
#include <vector>

#include "cluster/membership.h"
#include "util/mutex.h"

namespace vmstore::cluster {

class RingView {
 public:
  struct State {
    RingRecord record;
    Ring current;
    Ring previous;  // no nodes when no move is under way
    // `key`'s owners (current members, primary first) and, during a move,
    // its previous owners that are not owners now.
    void Place(uint64_t key, int replicas, std::vector<const RingNode*>* owners,
               std::vector<const RingNode*>* extras) const;
    // Every node of either list (a name once, the current list's first).
    std::vector<const RingNode*> AllNodes() const;
  };

  explicit RingView(const RingRecord& r);
  // A ring that never moves (tests, one-shot tools).
  static std::shared_ptr<RingView> Fixed(const Ring& ring);

  std::shared_ptr<const State> Get() const;
  // Takes `r` if its epoch is newer than the one held; true if it did.
  bool Update(const RingRecord& r);
  uint64_t epoch() const;

 private:
  static std::shared_ptr<const State> Make(const RingRecord& r);
  mutable Mutex mu_;
  std::shared_ptr<const State> state_ GUARDED_BY(mu_);
};

}  // namespace vmstore::cluster
