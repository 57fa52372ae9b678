// The payload bytes (write data, read replies) the NBD server holds at once:
// a budget in all and a share per client, so no client behaviour can make
// the server hold more memory than the operator allowed. A request takes its
// bytes before its buffer is allocated and gives them back once its reply
// is sent; a request that does not fit waits. Waiters are served oldest
// first: a later request may pass only if the oldest waiting one (whose
// client is within its share) still fits after it, so a 32 MiB request is
// not starved by a stream of small ones.
//
// Thread-safety: every method may be called from any thread.
// Errors: none; Take waits as long as the holders take (each of them is
// bounded: a reply not read by its client within the send timeout drops the
// connection, which gives its bytes back).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "util/mutex.h"

namespace vmstore::nbd {

class RequestBudget {
 public:
  // `total` bytes in all (0: no limit); one client (an IP, "unix" or
  // "admin") holds at most `per_client` of them (0: the total).
  RequestBudget(uint64_t total, uint64_t per_client);

  // Waits until `bytes` can be held by `client` and takes them. A request
  // larger than the total or the client's share takes all of it (so it runs
  // alone). Returns what was taken, to be given back with Give.
  uint64_t Take(const std::string& client, uint64_t bytes) EXCLUDES(mu_);
  void Give(const std::string& client, uint64_t taken) EXCLUDES(mu_);

  struct Stats {
    uint64_t total = 0, in_use = 0, peak = 0;
    uint64_t waits = 0;  // requests that had to wait
  };
  Stats stats() const EXCLUDES(mu_);

 private:
  struct Waiter {
    std::string client;
    uint64_t bytes;
  };
  bool Fits(const std::string& client, uint64_t bytes) const REQUIRES(mu_);

  const uint64_t total_, per_client_;
  mutable Mutex mu_;
  CondVar cv_;
  uint64_t in_use_ GUARDED_BY(mu_) = 0, peak_ GUARDED_BY(mu_) = 0, waits_ GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> by_client_ GUARDED_BY(mu_);
  uint64_t next_ticket_ GUARDED_BY(mu_) = 0;
  std::map<uint64_t, Waiter> waiting_ GUARDED_BY(mu_);  // by ticket: oldest first
};

}  // namespace vmstore::nbd
