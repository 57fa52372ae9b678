// LockKeeper: renews a WriterLock from its own thread every third of its TTL
// until destroyed, so whoever holds the lock only has to ask held().
//
// Thread-safety: construct and destroy from one thread. Ownership: borrows
// the lock, which must outlive the keeper.
#pragma once

#include "cluster/writer_lock.h"
#include "util/periodic.h"

namespace vmstore::cluster {

class LockKeeper {
 public:
  LockKeeper(WriterLock* lock, int ttl_seconds);

 private:
  Periodic renew_;
};

// Takes `key` for `holder`, waiting up to `wait` while another holds it;
// FailedPrecondition naming the holder after that.
StatusOr<std::unique_ptr<WriterLock>> AcquireWaiting(Etcd* etcd, const std::string& key, const std::string& holder,
                                                     int ttl_seconds, std::chrono::milliseconds wait);

}  // namespace vmstore::cluster
