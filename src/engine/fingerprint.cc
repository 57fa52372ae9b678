#include "engine/fingerprint.h"

#include <openssl/sha.h>

namespace vmstore::internal {

Fingerprint Sha256(const char* data, size_t n) {
  Fingerprint fp;
  SHA256(reinterpret_cast<const unsigned char*>(data), n, fp.data());
  return fp;
}

}  // namespace vmstore::internal
