#include "util/coding.h"

#include <cinttypes>
#include <cstdio>

namespace vmstore::internal {

std::string Hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

}  // namespace vmstore::internal
