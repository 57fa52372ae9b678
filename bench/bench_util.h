// Helpers shared by the benchmarks in bench/.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "vmstore/status.h"

namespace vmstore::bench {

using Clock = std::chrono::steady_clock;

// Benchmarks stop at the first error, printing what failed.
inline void Die(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

inline double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace vmstore::bench
