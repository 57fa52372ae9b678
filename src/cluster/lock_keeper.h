// LockKeeper: renews a WriterLock from its own thread every third of its TTL
// until destroyed, so whoever holds the lock only has to ask held().
//
// Thread-safety: construct and destroy from one thread. Ownership: borrows
// the lock, which must outlive the keeper.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "cluster/writer_lock.h"

namespace vmstore::cluster {

class LockKeeper {
 public:
  LockKeeper(WriterLock* lock, int ttl_seconds);
  ~LockKeeper();
  LockKeeper(const LockKeeper&) = delete;
  LockKeeper& operator=(const LockKeeper&) = delete;

 private:
  WriterLock* lock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Takes `key` for `holder`, waiting up to `wait` while another holds it;
// FailedPrecondition naming the holder after that.
StatusOr<std::unique_ptr<WriterLock>> AcquireWaiting(Etcd* etcd, const std::string& key, const std::string& holder,
                                                     int ttl_seconds, std::chrono::milliseconds wait);

}  // namespace vmstore::cluster
