// SharedMutex: a reader/writer lock that lets a waiting exclusive holder in
// before new shared holders (glibc's pthread_rwlock with the writer-preferring
// kind). std::shared_mutex on glibc prefers readers: under a steady stream of
// reads a volume's writer, or a VM snapshot behind the NBD write gate, could
// wait for seconds (the soak saw 22 s).
//
// Not recursive: a thread holding it shared must not take it shared again
// (with an exclusive waiter in between that would deadlock).
// Thread-safety: a lock; meets the SharedMutex requirements (std::shared_lock,
// std::unique_lock). Errors: none reported (as std::shared_mutex).
#pragma once

#include <pthread.h>

namespace vmstore {

class SharedMutex {
 public:
  SharedMutex() {
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&rw_, &a);
    pthread_rwlockattr_destroy(&a);
  }
  ~SharedMutex() { pthread_rwlock_destroy(&rw_); }
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() { pthread_rwlock_wrlock(&rw_); }
  bool try_lock() { return pthread_rwlock_trywrlock(&rw_) == 0; }
  void unlock() { pthread_rwlock_unlock(&rw_); }
  void lock_shared() { pthread_rwlock_rdlock(&rw_); }
  bool try_lock_shared() { return pthread_rwlock_tryrdlock(&rw_) == 0; }
  void unlock_shared() { pthread_rwlock_unlock(&rw_); }

 private:
  pthread_rwlock_t rw_;
};

}  // namespace vmstore
