// The ideal offline deduplication the dedup benchmark compares against: reads
// raw disk images cluster by cluster and counts the non-zero clusters and the
// distinct ones among them (by SHA-256), over all images together and per
// image. A whole-cluster dedup that knew every fingerprint could store no less.
//
// Usage: dedup_ideal CLUSTER_BYTES IMAGE...
// Prints one line per image and a total, as key=value pairs.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/fingerprint.h"

namespace {

struct FpHash {
  size_t operator()(const vmstore::internal::Fingerprint& f) const { return vmstore::internal::FingerprintKey(f); }
};

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i]) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: dedup_ideal CLUSTER_BYTES IMAGE...\n");
    return 1;
  }
  const size_t cluster = std::strtoull(argv[1], nullptr, 10);
  if (cluster < 512 || cluster > (1u << 20)) {
    std::fprintf(stderr, "dedup_ideal: cluster size %s out of range\n", argv[1]);
    return 1;
  }
  std::unordered_set<vmstore::internal::Fingerprint, FpHash> all;
  uint64_t total = 0;
  std::vector<char> buf(cluster);
  for (int i = 2; i < argc; ++i) {
    FILE* f = std::fopen(argv[i], "rb");
    if (!f) {
      std::perror(argv[i]);
      return 1;
    }
    std::unordered_set<vmstore::internal::Fingerprint, FpHash> own;
    uint64_t nonzero = 0, fresh = 0;
    size_t n;
    while ((n = std::fread(buf.data(), 1, cluster, f)) > 0) {
      if (n < cluster) std::memset(buf.data() + n, 0, cluster - n);
      if (AllZero(buf.data(), cluster)) continue;
      ++nonzero;
      auto fp = vmstore::internal::Sha256(buf.data(), cluster);
      own.insert(fp);
      fresh += all.insert(fp).second;
    }
    std::fclose(f);
    total += nonzero;
    std::printf("image=%s nonzero_clusters=%" PRIu64 " distinct_in_image=%" PRIu64 " new_to_set=%" PRIu64 "\n", argv[i],
                nonzero, static_cast<uint64_t>(own.size()), fresh);
  }
  std::printf("total nonzero_clusters=%" PRIu64 " distinct=%zu ratio=%.4f\n", total, all.size(),
              all.empty() ? 1.0 : static_cast<double>(total) / static_cast<double>(all.size()));
  return 0;
}
