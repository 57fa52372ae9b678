#include "util/coding.h"

#include <cinttypes>
#include <cstdio>

namespace vmstore::internal {

std::string Hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

std::string HexBytes(const void* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char b = static_cast<const unsigned char*>(p)[i];
    s += {kHex[b >> 4], kHex[b & 15]};
  }
  return s;
}

}  // namespace vmstore::internal
