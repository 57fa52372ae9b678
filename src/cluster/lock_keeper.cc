#include "cluster/lock_keeper.h"

#include <algorithm>

namespace vmstore::cluster {

LockKeeper::LockKeeper(WriterLock* lock, int ttl_seconds)
    : renew_(std::chrono::milliseconds(std::max(300, ttl_seconds * 1000 / 3)), [lock] {
        Status s = lock->Renew();                      // a failure shows as !held() once the margin passes
        return s.ok() || s.code() != Code::kNotFound;  // NotFound: lost for good
      }) {}

StatusOr<std::unique_ptr<WriterLock>> AcquireWaiting(Etcd* etcd, const std::string& key, const std::string& holder,
                                                     int ttl_seconds, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto pause = std::chrono::milliseconds(20);
  for (;;) {
    auto lock = WriterLock::Acquire(etcd, key, holder, ttl_seconds);
    if (lock.ok() || lock.status().code() != Code::kFailedPrecondition) return lock;
    if (std::chrono::steady_clock::now() + pause > deadline) return lock.status();
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(500));
  }
}

}  // namespace vmstore::cluster
