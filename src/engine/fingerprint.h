// Content fingerprints for deduplication: SHA-256 through OpenSSL (which uses
// the CPU's SHA extensions where present).
//
// Thread-safety: the functions are pure and may run concurrently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vmstore::internal {

using Fingerprint = std::array<uint8_t, 32>;

Fingerprint Sha256(const char* data, size_t n);

// The first 8 bytes as a little-endian number: the key of the in-memory tables
// (a full fingerprint is always compared before content is shared).
inline uint64_t FingerprintKey(const Fingerprint& fp) {
  uint64_t k;
  std::memcpy(&k, fp.data(), 8);
  return k;
}

}  // namespace vmstore::internal
