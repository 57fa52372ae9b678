// HookTable: the sparse index of VMStore's deduplication (after Lillibridge et
// al., "Sparse Indexing", FAST 2009). Only sampled fingerprints - "hooks",
// those whose key has its low hook bits zero - are kept in memory, each with
// the file offsets of the two most recent manifests that hold it. A write
// whose fingerprint is a hook loads those manifests (its "champions"), and the
// clusters around it in the stream then find their duplicates there.
//
// Open addressing with linear probing, 24 bytes a slot, grown at 3/4 load;
// key 0 marks an empty slot (a key of 0 is stored as 1: a hook is a hint, and
// the full fingerprint is compared after the manifest is loaded).
//
// Thread-safety: none; the owner serialises calls.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmstore::internal {

class HookTable {
 public:
  // Makes `manifest` the most recent manifest of `key` (the previous one
  // becomes the second; older ones are forgotten).
  void Insert(uint64_t key, uint64_t manifest);
  // The manifests of `key`, most recent first; 0 where there is none.
  std::array<uint64_t, 2> Find(uint64_t key) const;
  size_t size() const { return used_; }
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }
  void Clear();

 private:
  struct Slot {
    uint64_t key = 0;
    uint64_t m[2] = {0, 0};
  };
  size_t Probe(uint64_t key) const;  // the slot holding key, or the empty one where it would go
  void Grow();
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

}  // namespace vmstore::internal
