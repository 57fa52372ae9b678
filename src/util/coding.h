// Fixed-width encoding helpers and the checksum function. All on-disk
// integers in VMStore are little-endian (docs/FORMAT.md); network protocols
// are big-endian (the Be helpers).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace vmstore::internal {

inline void PutU32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void PutU64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint32_t GetU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t GetU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Appends to a growing buffer.
inline void AppendU32(std::string* s, uint32_t v) {
  char b[4];
  PutU32(b, v);
  s->append(b, 4);
}
inline void AppendU64(std::string* s, uint64_t v) {
  char b[8];
  PutU64(b, v);
  s->append(b, 8);
}

// The checksum used for every block unit, record and superblock: XXH3-64.
inline uint64_t Hash64(const void* p, size_t n) { return XXH3_64bits(p, n); }

inline bool IsAllZero(const char* p, size_t n) {
  // Compare in 8-byte words; n is small or a multiple of 8 in practice.
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w) return false;
  }
  for (; i < n; ++i)
    if (p[i]) return false;
  return true;
}

// Big-endian helpers (network protocols: NBD, the control socket).
inline void PutBe16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v));
}
inline void PutBe32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>(v >> (8 * i)));
}
inline void PutBe64(std::string* s, uint64_t v) {
  for (int i = 7; i >= 0; --i) s->push_back(static_cast<char>(v >> (8 * i)));
}
inline uint16_t GetBe16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}
inline uint32_t GetBe32(const char* p) {
  return (uint32_t{static_cast<uint8_t>(p[0])} << 24) | (uint32_t{static_cast<uint8_t>(p[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(p[2])} << 8) | uint32_t{static_cast<uint8_t>(p[3])};
}
inline uint64_t GetBe64(const char* p) { return (uint64_t{GetBe32(p)} << 32) | GetBe32(p + 4); }

// "0x1b2c" style formatting for addresses in messages.
std::string Hex(uint64_t v);
// Lower-case hex of n bytes ("0a1b..."): uuids, tokens, file names.
std::string HexBytes(const void* p, size_t n);
// The inverse of HexBytes: false (and *out unspecified) unless `hex` is an
// even number of lower-case hex digits.
bool ParseHexBytes(const std::string& hex, std::string* out);

}  // namespace vmstore::internal
