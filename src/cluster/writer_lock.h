// WriterLock: the lock that makes a VM's disks writable through one gateway
// at a time (docs/CLUSTER.md, "Writer lock"). It is an etcd key under a lease
// of the holder's: taken by compare-and-swap on "no such key", kept by
// keeping the lease alive, and gone when the holder dies (its lease expires)
// or releases it. Its fence - the key's creation revision - grows with every
// new holder, so storage nodes can refuse the calls of an older one.
//
// Example:
//   ASSIGN_OR_RETURN(auto lock, WriterLock::Acquire(etcd, "/vmstore/locks/vm/web", "gw1", 10));
//   ... serve; every container call carries lock->fence() ...
//   if (!lock->held()) stop acknowledging writes;
//
// A holder that cannot renew its lease for longer than the TTL minus a margin
// counts its lock as lost (held() false) before etcd lets another take it.
// Errors: FailedPrecondition naming the holder when the lock is taken.
// Thread-safety: held() and fence() from any thread; Renew and Release from one.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "cluster/etcd.h"

namespace vmstore::cluster {

class WriterLock {
 public:
  // Takes `key` for `holder` under a new lease of `ttl_seconds` (at least 2).
  static StatusOr<std::unique_ptr<WriterLock>> Acquire(Etcd* etcd, const std::string& key, const std::string& holder,
                                                       int ttl_seconds);
  ~WriterLock();  // releases it if still held
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  // Renews the lease (call every TTL/3). NotFound once the lease is gone: the
  // lock is lost, and held() is false from then on.
  Status Renew();
  // Gives the lock up (revokes the lease).
  Status Release();
  // True while the last renewal is younger than TTL minus a margin (1 s or a
  // third of the TTL, whichever is more): a partitioned holder stops itself
  // before another can take over.
  bool held() const;
  uint64_t fence() const { return fence_; }
  const std::string& key() const { return key_; }

 private:
  WriterLock(Etcd* etcd, std::string key, int64_t lease, int ttl_s, uint64_t fence);

  Etcd* etcd_;
  const std::string key_;
  const int64_t lease_;
  const int ttl_s_;
  const uint64_t fence_;
  std::atomic<int64_t> renewed_ns_;
  std::atomic<bool> lost_{false};
};

}  // namespace vmstore::cluster
