// DedupIndex: finds an existing block with the content of a cluster being
// written, in bounded memory (docs/ARCHITECTURE.md, "Deduplication").
//
// On disk, the file POOL/dedup.idx (dedup_file.h) holds every manifest ever
// written: the full index. In memory there are only
//  - the hooks (HookTable): one fingerprint in 2^hook_bits, each pointing to
//    the two most recent manifests that hold it;
//  - a cache of up to `cache_manifests` loaded manifests (LRU), with a table
//    from fingerprint key to entry over all of them;
//  - each stream's open manifest and the full ones waiting for the next
//    checkpoint (at most what one checkpoint covers).
// A lookup first asks the cache; a miss on a hook loads the hook's manifests
// from the file and asks again. Because streams repeat in runs (the same
// operating-system files in the same order), the clusters that follow a hook
// are then found in the cache. What is found is a *candidate*: the caller
// checks that the block is still alive (addresses are never reused, and blocks
// of a deduplicating pool are never modified in place) and, in verify mode,
// compares the bytes.
//
// Crash safety: a batch is written and synced by the checkpoint before its
// superblock; Load() drops batches of later generations (a checkpoint that did
// not commit) and a torn tail, so a committed entry always describes a block
// of the committed state. A damaged index costs only missed duplicates.
//
// Thread-safety: every method but WriteBatch runs under the owner's writer
// lock (PoolImpl::dedup_ is GUARDED_BY(writer_mu_)). WriteBatch (the
// checkpoint's background thread, through the pointer its job carries) may
// run concurrently with them: it touches only the file past what lookups read.
// Errors: lookups never fail (an unreadable manifest is counted and skipped).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/dedup_file.h"
#include "engine/hook_table.h"
#include "vmstore/env.h"
#include "vmstore/pool.h"

namespace vmstore::internal {

class DedupIndex {
 public:
  struct Options {
    int hook_bits = 5;            // one hook in 32 fingerprints
    size_t cache_manifests = 64;  // loaded manifests kept
    uint32_t manifest_entries = kManifestEntries;
  };
  DedupIndex(Env* env, std::string path, Options options);

  // Opens the file (created if missing) and reads its hooks, cutting it after
  // the last whole batch of a generation up to `committed_generation`.
  Status Load(uint64_t committed_generation);

  // A candidate block holding content `fp`, or nullptr. Valid until the next
  // call other than stats().
  const DedupEntry* Find(const Fingerprint& fp);
  // Records that `stream` wrote a cluster of content `fp` as block `addr`
  // (`csum` 0 for a block not yet checkpointed).
  void Record(uint64_t stream, const Fingerprint& fp, uint64_t addr, uint64_t csum);

  struct Batch {
    uint64_t offset = 0;
    std::string bytes;  // empty: nothing to write
  };
  // The checkpoint's freeze. `csum_of(addr)` gives the checksum of a block
  // this freeze writes, or nullopt if the block is gone (its entries are
  // dropped). The manifests that are full, or whose stream wrote nothing since
  // the last freeze, or all with `seal_all`, go into a batch for `generation`;
  // a stream still writing keeps its manifest open, so manifests stay long
  // (about 2^hook_bits entries per hook) however often checkpoints run.
  Batch Freeze(uint64_t generation, const std::function<std::optional<uint64_t>(uint64_t)>& csum_of, bool seal_all);
  // Whether entries wait for a batch.
  bool pending() const { return pinned_entries_ > 0; }
  // Writes and syncs a batch; may be repeated after a failure.
  Status WriteBatch(const Batch& batch);
  // Forgets every entry and empties the file (dedup switched off).
  Status Reset();
  // Reads every manifest of the file, verified, and passes it to fn.
  // Damaged batches or manifests go to *problems.
  Status ForEachManifest(const std::function<Status(const Manifest&)>& fn, std::vector<std::string>* problems);

  DedupStats stats() const;

 private:
  struct Loc {
    Manifest* m;
    uint32_t i;
  };
  using Lru = std::list<std::unique_ptr<Manifest>>;
  const DedupEntry* Lookup(const Fingerprint& fp);
  void Index(Manifest* m, uint32_t i);
  void LoadManifest(uint64_t offset);
  void Evict();
  Status OpenFile();

  Env* env_;
  std::string path_;
  Options opts_;
  std::unique_ptr<File> file_;
  uint64_t end_ = 0;                       // where the next batch goes
  std::atomic<uint64_t> readable_end_{0};  // bytes written and synced
  HookTable hooks_;
  Lru lru_;  // loaded manifests, front = most recently used
  std::unordered_map<uint64_t, Lru::iterator> by_offset_;
  struct Open {
    std::unique_ptr<Manifest> m;
    bool touched = false;  // written since the last freeze
  };
  std::unordered_map<uint64_t, Open> open_;      // stream -> its open manifest
  std::vector<std::unique_ptr<Manifest>> full_;  // full, waiting for the freeze
  std::unordered_map<uint64_t, Loc> table_;      // key -> newest entry with it
  uint64_t pinned_entries_ = 0;
  uint64_t loads_ = 0, load_failures_ = 0, lookups_ = 0, found_ = 0;
};

}  // namespace vmstore::internal
