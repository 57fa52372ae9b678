// Pool: VMStore's native chain-free volume engine.
//
// A pool is one directory holding block containers, a superblock and a log
// (docs/FORMAT.md). It stores volumes: writable disks and read-only snapshots.
// Every volume maps its virtual clusters (4 KiB - 1 MiB, fixed per pool) through
// its own copy-on-write radix tree whose height depends only on the volume's
// size, so a read is one index lookup however many snapshots and clones exist.
// A snapshot or clone is a new root sharing the whole tree: O(1).
//
// Example:
//   PoolOptions o;
//   ASSIGN_OR_RETURN(auto pool, Pool::Create("/srv/pool", o));
//   ASSIGN_OR_RETURN(VolumeId disk, pool->CreateVolume(10ull << 30));
//   RETURN_IF_ERROR(pool->Write(disk, 0, data));
//   ASSIGN_OR_RETURN(VolumeId snap, pool->Snapshot(disk));   // durable on return
//   RETURN_IF_ERROR(pool->Flush());
//
// Durability: a write is durable once Flush() returns (or any call that flushes:
// Snapshot, Clone, Rollback, Create/Resize/DeleteVolume unless
// PoolOptions::sync_metadata_ops is false, and Close). After a crash the pool
// reopens to a state that contains every flushed operation and a prefix of the
// unflushed ones.
// Integrity: every block is checksummed in the pointer that references it; a
// mismatch is returned as Code::kCorruption naming the address, never as data.
// Thread-safety: all methods are thread-safe. Reads run concurrently with each
// other; mutations are serialised.
// Ownership: Pool owns its files; destroying it closes the pool (as Close(), with
// errors ignored) and releases the directory lock.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vmstore/block_store.h"
#include "vmstore/env.h"
#include "vmstore/status.h"

namespace vmstore {

using VolumeId = uint64_t;

// Deduplication of a pool (Pool::SetDedup): off; on (a cluster whose SHA-256
// matches a stored block's becomes one more reference to it); verify (the
// bytes are compared too before sharing).
enum class DedupMode : uint32_t { kOff = 0, kOn = 1, kVerify = 2 };
const char* DedupModeName(DedupMode mode);  // "off", "on", "verify"
// Parses a name DedupModeName gives; InvalidArgument otherwise.
StatusOr<DedupMode> ParseDedupMode(const std::string& name);

struct PoolOptions {
  Env* env = nullptr;  // nullptr: Env::Default()
  // Where the block containers live (not owned; must outlive the pool).
  // nullptr: files in DIR/containers, through `env`.
  BlockStore* block_store = nullptr;
  // Fixed at creation:
  uint32_t cluster_size = 64 * 1024;      // power of two, 4 KiB .. 1 MiB
  uint64_t container_size = 64ull << 20;  // bytes of data per container file
  DedupMode dedup = DedupMode::kOff;      // the initial mode (then Pool::SetDedup)
  // A container space shared by several pools (the cluster's; 0: the pool's
  // alone). The pool's own containers are [1, container_span); a larger
  // number is another pool's ("foreign"): pool p's container c is
  // p * container_span + c there. A volume adopted from another pool
  // (AdoptVolume) reads foreign blocks through the same BlockStore and never
  // changes or frees them: writes copy them into the pool's own containers.
  uint64_t container_span = 0;
  // Run-time:
  uint64_t max_dirty_bytes = 64ull << 20;  // checkpoint when dirty data exceeds this
  uint64_t max_wal_bytes = 256ull << 20;   // ... or when the log exceeds this
  size_t node_cache_bytes = 64ull << 20;   // clean index nodes kept in memory
  bool reclaim_garbage = true;             // punch unreferenced space at open
  // Open even when the write-ahead log is damaged before records it says
  // were durable (else Corruption): the log is cut at the damage, flushed
  // writes after it are lost, and Check reports what was dropped.
  bool accept_log_loss = false;
  // Snapshot, Clone, Rollback, CreateVolume, ResizeVolume and DeleteVolume sync
  // the log before returning. With false they become durable at the next Flush.
  bool sync_metadata_ops = true;
  // Kept free on the pool's file system for what records or gives back space:
  // trims, deletes, snapshots, checkpoints, the catalog beside the pool. New
  // data is refused with kNoSpace rather than eat into it (and a checkpoint
  // runs first when it would give space back). 0: 64 MiB, at most a tenth of
  // the file system.
  uint64_t space_reserve_bytes = 0;
  // Deduplication's memory (docs/ARCHITECTURE.md, "Deduplication"): one
  // fingerprint in 2^dedup_hook_bits is kept in memory, and up to
  // dedup_cache_manifests manifests of 1,024 entries (48 KiB each).
  int dedup_hook_bits = 5;
  size_t dedup_cache_manifests = 64;
};

enum class ExtentType { kData, kZero, kHole };

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  ExtentType type = ExtentType::kHole;
};

// Appends [offset, offset + length) of `type` to `extents` (in ascending
// order), merged into the last extent when that one ends there with the same type.
inline void AppendExtent(std::vector<Extent>* extents, uint64_t offset, uint64_t length, ExtentType type) {
  if (!extents->empty() && extents->back().type == type && extents->back().offset + extents->back().length == offset) {
    extents->back().length += length;
  } else {
    extents->push_back({offset, length, type});
  }
}

struct VolumeInfo {
  VolumeId id = 0;
  uint64_t size = 0;
  bool read_only = false;
  VolumeId parent = 0;  // the volume it was snapshotted or cloned from (0: none)
  int64_t created_ns = 0;
  uint32_t height = 0;  // index levels
  uint64_t tag = 0;     // as given at creation (0: none)
  // Why the volume cannot be used, "" if it can: its index reaches a node
  // that could not be read when the pool opened. Its reads, writes,
  // snapshots and clones fail with Corruption; it can be deleted.
  std::string damaged;
};

// Space of one volume, as ZFS reports used / referenced.
struct SpaceInfo {
  uint64_t logical = 0;     // the volume's size
  uint64_t referenced = 0;  // data bytes reachable from it
  uint64_t exclusive = 0;   // data bytes freed if it alone were deleted (<= referenced; index
                            // overhead shows in PoolStats::live_bytes only)
};

struct DedupStats {
  uint64_t hooks = 0;              // sampled fingerprints held in memory
  uint64_t cached_manifests = 0;   // manifests loaded in memory
  uint64_t memory_bytes = 0;       // the index's memory: hooks, loaded and pending manifests
  uint64_t hook_bytes = 0;         // ... of which the hooks (the part that grows with unique data)
  uint64_t file_bytes = 0;         // the full index on disk (dedup.idx)
  uint64_t lookups = 0;            // clusters looked up since the pool was opened
  uint64_t candidates = 0;         // ... for which the index had a candidate
  uint64_t hits = 0;               // ... stored as a reference to an existing block
  uint64_t hit_bytes = 0;          // bytes not written thanks to the hits
  uint64_t verify_mismatches = 0;  // verify mode: candidates whose bytes differed
  uint64_t manifest_loads = 0;     // manifests read from the file
  uint64_t load_failures = 0;      // ... that were damaged (skipped)
  // Clusters looked up / clusters that took new space: 1 when nothing was
  // shared, 2 when every other cluster was (monitoring's dedup ratio).
  double ratio() const {
    const uint64_t stored = lookups > hits ? lookups - hits : 0;
    if (stored == 0) return lookups ? static_cast<double>(lookups) : 1.0;
    return static_cast<double>(lookups) / static_cast<double>(stored);
  }
};

struct PoolStats {
  uint32_t cluster_size = 0;
  uint64_t generation = 0;  // checkpoints committed
  uint64_t volumes = 0;
  uint64_t live_bytes = 0;      // bytes of referenced blocks
  uint64_t data_bytes = 0;      // ... of which data blocks (each counted once, however shared)
  uint64_t physical_bytes = 0;  // bytes allocated on disk by the pool's files
  uint64_t wal_bytes = 0;
  uint64_t dirty_bytes = 0;
  DedupMode dedup = DedupMode::kOff;
  DedupStats dedup_stats;
  // Index node loads since the pool was opened: answered from memory (nodes
  // not yet written, being written, or in the node cache) / read from disk;
  // and the clean nodes the cache holds now.
  uint64_t node_cache_hits = 0, node_cache_misses = 0, node_cache_nodes = 0;
};

// A volume's root as a pool committed it: what a clone in another pool of
// the same container space starts from (Pool::AdoptVolume).
struct VolumeRoot {
  uint64_t addr = 0;  // the root block's address; 0 or 1: an empty volume
  uint64_t csum = 0;  // its checksum
  uint32_t height = 0;
  uint64_t size = 0;
  uint32_t cluster_size = 0;
};

struct ReadStats {
  uint64_t nodes_visited = 0;  // index nodes consulted (cache hits included)
};

// What Pool::Diff found: the ranges whose content may differ, each typed by
// what `to` holds there (kData, or kZero where it reads as zeroes: a hole or
// a zero cluster), merged into maximal extents, in order.
struct DiffResult {
  std::vector<Extent> changed;
  uint64_t from_size = 0, to_size = 0;
  uint64_t nodes_visited = 0;  // index nodes read by the walk (the cost: it follows the change)
  uint64_t changed_bytes() const {
    uint64_t n = 0;
    for (const Extent& e : changed) n += e.length;
    return n;
  }
};

struct CheckReport {
  uint64_t volumes = 0;
  uint64_t nodes = 0;
  uint64_t data_blocks = 0;
  uint64_t bytes_verified = 0;
  uint64_t garbage_bytes = 0;  // allocated but unreferenced (reclaimed at next open)
  std::vector<std::string> errors;
  bool clean() const { return errors.empty(); }
};

class Pool {
 public:
  // Creates a pool in `dir` (created if missing; must be empty). Errors:
  // AlreadyExists if a pool is there, InvalidArgument for bad geometry.
  static StatusOr<std::unique_ptr<Pool>> Create(const std::string& dir, const PoolOptions& options);
  // Opens an existing pool, replaying its log. Errors: NotFound (no pool),
  // FailedPrecondition (opened by another process), NotSupported (other format
  // version), Corruption (damaged superblock or index).
  static StatusOr<std::unique_ptr<Pool>> Open(const std::string& dir, const PoolOptions& options);

  virtual ~Pool() = default;

  // Volume lifecycle. Sizes must be multiples of 512. `tag` is an opaque
  // number kept with the volume and shown in VolumeInfo (0: none); the catalog
  // marks the volumes of an unfinished operation with it, to find them after a
  // crash.
  virtual StatusOr<VolumeId> CreateVolume(uint64_t size, uint64_t tag) = 0;
  StatusOr<VolumeId> CreateVolume(uint64_t size) { return CreateVolume(size, 0); }
  virtual Status ResizeVolume(VolumeId id, uint64_t size) = 0;
  virtual Status DeleteVolume(VolumeId id) = 0;
  // Read-only copies of several volumes at one point: no write lands between
  // them. O(1) each; durable on return (one log sync). Returns the new ids in
  // the order of `sources`. Errors: NotFound, InvalidArgument (a volume twice);
  // after an I/O error some of them may exist, carrying `tag`.
  virtual StatusOr<std::vector<VolumeId>> SnapshotMany(std::span<const VolumeId> sources, uint64_t tag) = 0;
  // A read-only point-in-time copy of `source`; O(1); durable on return.
  StatusOr<VolumeId> Snapshot(VolumeId source, uint64_t tag = 0) {
    ASSIGN_OR_RETURN(std::vector<VolumeId> ids, SnapshotMany({&source, 1}, tag));
    return ids[0];
  }
  // A writable copy of `source` (normally a snapshot); O(1); durable on return.
  virtual StatusOr<VolumeId> Clone(VolumeId source, uint64_t tag) = 0;
  StatusOr<VolumeId> Clone(VolumeId source) { return Clone(source, 0); }
  // A writable volume whose tree is `root`: a committed snapshot of another
  // pool of the same container space (PoolOptions::container_span; the
  // address in that space's numbering, from ReadCommittedRoot). O(1):
  // nothing is copied or counted; reads find the other pool's blocks, and
  // writes copy what they change into this pool's containers. The caller
  // keeps the snapshot alive while the volume exists (the catalog's
  // deletion rules do). Durable on return. Errors: InvalidArgument (no
  // shared space, an address of this pool's own, another cluster size, a
  // bad height or size).
  virtual StatusOr<VolumeId> AdoptVolume(const VolumeRoot& root, uint64_t tag) = 0;
  // Makes writable `volume` equal to `snapshot` (size included). Other
  // snapshots, older and newer, are kept. O(1) plus freeing what only `volume` held.
  virtual Status Rollback(VolumeId volume, VolumeId snapshot) = 0;

  // I/O on any byte range inside the volume.
  virtual Status Read(VolumeId id, uint64_t offset, std::span<char> buf, ReadStats* stats = nullptr) = 0;
  virtual Status Write(VolumeId id, uint64_t offset, std::span<const char> data) = 0;
  // Discards a range: whole clusters become holes, partial ones read as zero.
  virtual Status Trim(VolumeId id, uint64_t offset, uint64_t length) = 0;
  // Zeroes a range; whole clusters become holes if `may_punch`, else
  // allocated-zero clusters.
  virtual Status WriteZeroes(VolumeId id, uint64_t offset, uint64_t length, bool may_punch) = 0;
  virtual Status Flush() = 0;
  // Allocation map of [offset, offset+length), merged into maximal extents.
  virtual StatusOr<std::vector<Extent>> Map(VolumeId id, uint64_t offset, uint64_t length) = 0;
  // The clusters of `to` whose block differs from `from`'s at the same offset,
  // over [0, to's size), found by walking the two trees side by side and
  // skipping every subtree they share, so the cost follows the change, not the
  // volume's size. Blocks shared by snapshots, clones and deduplication count
  // as equal; a cluster rewritten with the same bytes counts as changed; holes
  // and zero clusters are equal to each other. Typically `from` is an older
  // snapshot of `to`, but any two volumes of the pool work (unrelated ones
  // share nothing and differ wherever either holds data). Each 4 GiB-or-so
  // stretch is walked under both volumes' read locks: for a writable `to` the
  // answer is per stretch, not one point in time. Errors: NotFound,
  // Corruption (an unreadable index node).
  virtual StatusOr<DiffResult> Diff(VolumeId from, VolumeId to) = 0;

  virtual StatusOr<VolumeInfo> Info(VolumeId id) = 0;
  virtual std::vector<VolumeInfo> ListVolumes() = 0;
  virtual StatusOr<SpaceInfo> Space(VolumeId id) = 0;
  virtual StatusOr<PoolStats> Stats() = 0;

  // Sets the deduplication mode for the writes that follow; durable on
  // return. Turning it off drops the fingerprint index (blocks already shared
  // stay shared); turning it on again starts a new index.
  virtual Status SetDedup(DedupMode mode) = 0;

  // Writes all dirty state and commits a new superblock generation.
  virtual Status Checkpoint() = 0;
  // Reads every reachable block and verifies its checksum (scrub); with
  // `structure`, also checks reference counts, overlaps, container headers and
  // unreferenced space (fsck). Problems go to report->errors.
  virtual Status Check(bool structure, CheckReport* report) = 0;
  // Test hook: compares the live reference counts with a fresh walk of every tree.
  virtual Status VerifyRefcounts() = 0;
  // Checkpoints and releases the pool.
  virtual Status Close() = 0;
};

// Reads snapshot `id`'s root as the pool in `dir` last committed it, without
// opening the pool - another process may hold it and write meanwhile - through
// options.env and options.block_store, reading only. The address is in the
// pool's own numbering. A snapshot is committed at the pool's next checkpoint.
// Errors: NotFound (no such volume committed), FailedPrecondition (a writable
// volume: it may change), Corruption (damaged superblock or volume table,
// after retries that let a checkpoint under way finish).
StatusOr<VolumeRoot> ReadCommittedRoot(const std::string& dir, const PoolOptions& options, VolumeId id);

}  // namespace vmstore
