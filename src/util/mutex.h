// Mutex, MutexLock, CondVar: std::mutex and std::condition_variable with the
// thread-safety annotations clang checks (util/thread_annotations.h).
//
//   Mutex mu_;
//   std::deque<Job> jobs_ GUARDED_BY(mu_);
//   CondVar cv_;
//   void Push(Job j) { MutexLock l(&mu_); jobs_.push_back(j); cv_.NotifyOne(); }
//   Job Pop() { MutexLock l(&mu_); while (jobs_.empty()) cv_.Wait(&mu_); ... }
//
// Thread-safety: they are the locks. Not recursive. Errors: none (as std::mutex).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/thread_annotations.h"

namespace vmstore {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis that the caller holds it (where it cannot see that).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

  // For std::lock_guard / std::unique_lock users (not analysed).
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable waited on with a Mutex held.
class CondVar {
 public:
  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    cv_.wait(l);
    l.release();
  }
  // Returns false on timeout.
  template <class Rep, class Period>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> d) REQUIRES(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    bool woke = cv_.wait_for(l, d) == std::cv_status::no_timeout;
    l.release();
    return woke;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace vmstore
