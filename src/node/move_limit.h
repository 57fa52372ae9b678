// How many objects (containers, pool files) a storage node copies in and
// out for repairs and moves at once (docs/CLUSTER.md, "Moving data").
// A copy is a run of requests flagged as recovery that name one object; it
// counts as under way from its first request until it has been idle for the
// idle window. A request of a copy not under way while `limit` copies in
// that direction are is refused (FailedPrecondition, "the copy waits"): the
// copier keeps its record and tries again on its next pass.
//
// Example:
//   MoveLimit moves(std::chrono::seconds(5));
//   moves.SetLimit(2);
//   RETURN_IF_ERROR(moves.Admit(MoveLimit::kIn, "container:42"));
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "util/mutex.h"
#include "vmstore/status.h"

namespace vmstore::node {

class MoveLimit {
 public:
  enum Direction { kIn = 0, kOut = 1 };
  explicit MoveLimit(std::chrono::milliseconds idle) : idle_(idle) {}

  // The copies under way allowed each way (0: no limit). Takes effect for
  // copies that start after the call.
  void SetLimit(uint32_t n);
  uint32_t limit() const;
  // Admits a request of the copy of `object` going `dir`.
  Status Admit(Direction dir, const std::string& object);
  // The copier is done with `object`: it no longer counts either way.
  void End(const std::string& object);

  struct Stats {
    uint64_t peak[2] = {0, 0};  // most copies under way at once, each way
    uint64_t refused = 0;       // requests refused
  };
  Stats stats() const;

 private:
  const std::chrono::milliseconds idle_;
  mutable Mutex mu_;
  uint32_t limit_ GUARDED_BY(mu_) = 0;
  std::map<std::string, std::chrono::steady_clock::time_point> active_[2] GUARDED_BY(mu_);  // object -> last request
  Stats stats_ GUARDED_BY(mu_);
};

}  // namespace vmstore::node
