// Helpers shared by the benchmarks in bench/.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "vmstore/status.h"

namespace vmstore::bench {

using Clock = std::chrono::steady_clock;

// Benchmarks stop at the first error, printing what failed.
inline void Die(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

// The value at fraction `p` (0..1) of the sorted values; Percentile(v, 0.5) is the median.
inline double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

inline double Median(const std::vector<double>& v) { return Percentile(v, 0.5); }

inline double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace vmstore::bench
