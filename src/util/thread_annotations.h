// Clang's thread-safety annotations (-Wthread-safety), as macros that vanish
// under other compilers. scripts/test.sh builds the whole tree with clang and
// -Werror=thread-safety, so a member read without its lock fails that build.
//
//   Mutex mu_;
//   int count_ GUARDED_BY(mu_);              // read or written only with mu_ held
//   void BumpLocked() REQUIRES(mu_);         // callers hold mu_
//   void Bump() EXCLUDES(mu_) { MutexLock l(&mu_); BumpLocked(); }
#pragma once

#if defined(__clang__)
#define VMSTORE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define VMSTORE_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) VMSTORE_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY VMSTORE_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) VMSTORE_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) VMSTORE_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) VMSTORE_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) VMSTORE_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) VMSTORE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) VMSTORE_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) VMSTORE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) VMSTORE_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) VMSTORE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) VMSTORE_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) VMSTORE_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) VMSTORE_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) VMSTORE_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) VMSTORE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) VMSTORE_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) VMSTORE_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS VMSTORE_THREAD_ANNOTATION(no_thread_safety_analysis)
