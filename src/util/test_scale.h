// How many rounds a long randomized test runs. The release build runs the
// full count; the sanitizer build (VMSTORE_SANITIZE, ~5x slower) reruns the
// whole suite to find memory and UB errors and takes a quarter, so CI stays
// in its time budget; VMSTORE_LONG=1 runs ten times the count (by hand).
// Tests print the count they ran.
#pragma once

#include <algorithm>
#include <cstdlib>

namespace vmstore::testing {

#ifdef VMSTORE_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

inline int Scaled(int n) {
  if (std::getenv("VMSTORE_LONG")) return n * 10;
  return kSanitized ? std::max(1, n / 4) : n;
}

}  // namespace vmstore::testing
