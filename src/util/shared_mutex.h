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

#include "util/thread_annotations.h"

namespace vmstore {

class CAPABILITY("shared mutex") SharedMutex {
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

  void lock() ACQUIRE() { pthread_rwlock_wrlock(&rw_); }
  bool try_lock() TRY_ACQUIRE(true) { return pthread_rwlock_trywrlock(&rw_) == 0; }
  void unlock() RELEASE() { pthread_rwlock_unlock(&rw_); }
  void lock_shared() ACQUIRE_SHARED() { pthread_rwlock_rdlock(&rw_); }
  bool try_lock_shared() TRY_ACQUIRE_SHARED(true) { return pthread_rwlock_tryrdlock(&rw_) == 0; }
  void unlock_shared() RELEASE_SHARED() { pthread_rwlock_unlock(&rw_); }

 private:
  pthread_rwlock_t rw_;
};

// Holds a SharedMutex shared (ReaderLock) or exclusive (WriterLock) for its scope.
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->lock_shared(); }
  ~ReaderLock() RELEASE() { mu_->unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~WriterLock() RELEASE() { mu_->unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

}  // namespace vmstore
