// The deduplication index file (POOL/dedup.idx; docs/FORMAT.md, "Deduplication
// index"): encoding and decoding of its batches and manifests.
//
// A *manifest* is one stream's run of written clusters in the order written:
// (fingerprint, block address, block checksum) per cluster, up to
// kManifestEntries. Each checkpoint appends one *batch*: a header, the hooks
// of the manifests it holds (sampled fingerprint keys -> manifest offset),
// then the manifests. The file as a whole is the full fingerprint index on
// disk; memory keeps only the hooks (HookTable) and a few loaded manifests.
//
// Thread-safety: the functions keep no state. Errors: Corruption for anything
// that is not a whole, checksummed batch or manifest; I/O errors as the File
// returns them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/fingerprint.h"
#include "vmstore/env.h"
#include "vmstore/status.h"

namespace vmstore::internal {

constexpr uint32_t kBatchMagic = 0x31424444;     // "DDB1"
constexpr uint32_t kManifestMagic = 0x314d4444;  // "DDM1"
constexpr size_t kBatchHeader = 40;              // then hooks, then an XXH3 of both
constexpr size_t kHookSize = 16;                 // key u64, manifest offset u64
constexpr size_t kManifestHeader = 16;           // magic u32, count u32, stream u64
constexpr size_t kDedupEntrySize = 48;           // fingerprint (32), address u64, block checksum u64
constexpr uint32_t kManifestEntries = 1024;      // entries of a full manifest
constexpr uint32_t kMaxManifestEntries = 1 << 20;

struct DedupEntry {
  Fingerprint fp{};
  uint64_t addr = 0;  // 0: dropped (the block died before it was written)
  uint64_t csum = 0;  // 0 until the block's checkpoint computes it
};

struct Manifest {
  uint64_t offset = 0;  // in the file; 0 until a batch holds it
  uint64_t stream = 0;  // the volume that wrote it
  std::vector<DedupEntry> entries;
};

struct Hook {
  uint64_t key = 0;
  uint64_t manifest = 0;  // file offset
};

struct BatchHeader {
  uint64_t generation = 0;  // of the checkpoint that wrote it
  uint64_t length = 0;      // bytes, header to the end of the last manifest
  uint64_t hooks = 0;
  uint64_t manifests = 0;
};

// A hook is a fingerprint whose key has its low `hook_bits` bits zero.
inline bool IsHook(uint64_t key, int hook_bits) { return (key & ((uint64_t{1} << hook_bits) - 1)) == 0; }

// Encodes a batch to be written at file offset `at`: sets each manifest's
// offset and appends its hooks to *hooks. Entries with address 0 are left out.
std::string EncodeBatch(uint64_t at, uint64_t generation, const std::vector<Manifest*>& manifests, int hook_bits,
                        std::vector<Hook>* hooks);
// Reads and verifies the header and hooks of the batch at `at`.
StatusOr<BatchHeader> ReadBatch(File* f, uint64_t at, uint64_t file_size, std::vector<Hook>* hooks);
// Reads and verifies the manifest at `offset`.
StatusOr<Manifest> ReadManifest(File* f, uint64_t offset, uint64_t file_size);

}  // namespace vmstore::internal
