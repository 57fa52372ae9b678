// The monotonic clock as nanoseconds, for deadlines and idle times kept in
// atomics (never wall-clock time: see Env::NowNanos for that).
// Thread-safety: any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace vmstore::internal {

inline int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace vmstore::internal
