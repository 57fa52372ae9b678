// PoolImpl: the native engine behind vmstore::Pool. Design essay:
//
// STATE. The committed state is what the newest valid superblock reaches: the
// volume table block, every volume's tree of index nodes and the data blocks.
// Committed blocks are never modified in place except by a checkpoint that has
// first logged undo images (below). Everything since is in memory - dirty index
// nodes, dirty data blocks, and "overlays" (patched 4 KiB units of committed,
// unshared data blocks) - and in the write-ahead log as logical redo records.
//
// WRITES. A metadata operation (create, delete, resize, snapshot, clone,
// rollback) is validated, appended to the log, then applied in memory. A range
// mutation (write, trim, zeroing) is applied first and logged after
// (ApplyThenLog): room in the log buffer is made before (PrepareLog), so the
// append cannot fail, and the record holds exactly what was applied - a
// failure part way (a failing disk) stops at a cluster boundary and logs only
// that part. Both happen under writer_mu_, so the log's order is the order of
// the changes. Writing a cluster copies the path from the root down to its leaf unless the
// path is already private and dirty (copy-on-write with lazy reference counts):
// a node whose count is above 1 is copied and its children gain a reference; a
// committed node with count 1 is moved to a new address. The data then goes:
//  - whole cluster: a new dirty block (all-zero clusters become the zero marker);
//  - partial, cluster shared (count > 1): read, patch, new dirty block;
//  - partial, cluster private and committed: an overlay of just the 4 KiB units
//    touched - no cluster copy. The checkpoint patches them in place.
// With deduplication on (dedup.cc) no block is changed in place - partial
// writes copy - and a cluster whose content the index finds in a live block
// becomes one more reference to it instead of a new block.
//
// CHECKPOINT (checkpoint.cc), in two halves so writers and readers stall only
// for the first. FREEZE, under every lock but doing no I/O: compute unit sums
// and checksums bottom-up, encode the dirty nodes and the volume table, move
// the dirty maps into "frozen" maps and switch the write-ahead log to the
// second log file (generation g+1). From then on a frozen block counts as
// committed for writers (copy-on-write moves it, overlays patch it, frees wait
// a generation) while readers find it in the frozen maps. BACKGROUND, on its
// own thread: 1) sync the frozen log (later log writes wait for this); 2) log
// undo records (before-images of overlaid units) and sync; 3) write new blocks
// (coalesced appends), sync, then patch overlaid units in place and sync; 4)
// write the superblock of generation g+1 and sync; 5) punch the blocks freed
// during generation g, delete empty containers, drop the frozen maps, and reset
// the old log for generation g+2. A failure before step 4 keeps the job to be
// run again; after it, a failure only leaves garbage for the next open. Only
// one checkpoint is in flight; a freeze waits for it.
//
// RECOVERY (pool_open.cc). Read the superblock (generation g), rebuild
// reference counts by walking every tree, restore undo images (so containers
// equal the committed state exactly), replay the redo records of generation g
// and then those of g+1 (written after a freeze whose checkpoint did not
// commit) in order, checkpoint as generation g+2 (so neither log's records
// match the new generation), reset both logs, and punch space no block
// references (garbage of an interrupted generation).
//
// LOCKING. No lock is shared by all readers. A read takes only its volume's
// reader lock and, briefly, shard locks of the sharded maps below. Mutations are
// serialised by writer_mu_ and take the one volume they change exclusively: a
// node or block is modified in place only when its whole path from that
// volume's root is private (lazy counts of 1), so no other volume can see it.
// The freeze, which rewrites checksums in dirty nodes and swaps the maps,
// holds writer_mu_ and every volume lock; the background half holds neither
// (ckpt_mu_ guards the hand-over) and touches only the frozen state, the
// containers, the superblock file and the frozen log. What each lock guards
// is written down below as GUARDED_BY / REQUIRES and checked by clang's
// -Wthread-safety (scripts/test.sh). Not expressible there, so stated here: a
// VolumeState's record is read by readers under its lock shared and by the
// writer under writer_mu_ alone, and written under both; the sharded maps
// lock themselves; the frozen maps and `sb_` fields other than the
// checkpoint's are the checkpoint thread's while one runs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/dedup_index.h"
#include "engine/file_block_store.h"
#include "engine/fingerprint.h"
#include "engine/format.h"
#include "engine/node_cache.h"
#include "engine/refs.h"
#include "engine/wal.h"
#include "util/mutex.h"
#include "util/sharded_map.h"
#include "util/shared_mutex.h"
#include "util/thread_annotations.h"
#include "vmstore/pool.h"

namespace vmstore::internal {

// A whole cluster's content as deduplication sees it: its SHA-256 and its
// block checksum (computed together, before the writer lock).
struct ClusterPrint {
  Fingerprint fp{};
  uint64_t csum = 0;
};

// One volume's record and the lock its readers share.
struct VolumeState {
  mutable SharedMutex mu;  // writer-preferring: a write is not starved by a stream of reads
  VolumeRecord rec;        // guarded by mu for readers; written under writer_mu_ + mu
  // Why the volume cannot be used ("" if it can): set while the pool opens,
  // before any other thread sees the state, when its index reaches a node
  // that cannot be read. Reads, writes, snapshots and clones of it fail with
  // Corruption; it can be deleted.
  std::string damaged;
};

// A patched 4 KiB unit of a committed data block, waiting for the checkpoint.
struct OverlayUnit {
  std::string before;  // committed content (for the undo record)
  std::string after;   // content after the patches
  uint64_t old_sum = 0;
};
// The patched units of one committed data block.
struct Overlay {
  std::vector<uint64_t> sums;             // the block's unit sums before the patches (verified)
  std::map<uint32_t, OverlayUnit> units;  // unit index in block -> unit
};

// What an in-flight checkpoint holds, readable until it is in the containers:
// a dirty data block with its unit sums, or an overlay with the sums after it.
struct FrozenData {
  std::shared_ptr<std::string> data;
  std::vector<uint64_t> sums;
};
struct FrozenOverlay {
  std::shared_ptr<Overlay> overlay;
  std::vector<uint64_t> sums_after;
};

// The I/O half of a checkpoint, run by a background thread (checkpoint.cc).
struct CheckpointJob {
  Superblock next;
  std::vector<UnitWrite> writes;   // new blocks (data, nodes, volume table)
  std::vector<UnitWrite> patches;  // overlaid units, patched in place
  std::vector<std::string> undo;   // undo record payloads, logged before the patches
  std::vector<std::unique_ptr<char[]>> bufs;
  std::string vtable;
  std::vector<uint64_t> vtable_sums;
  std::vector<std::pair<uint64_t, uint32_t>> frees;      // punched once the superblock is down
  std::vector<uint64_t> empty_containers;                // deleted then
  std::vector<std::pair<uint64_t, uint64_t>> sum_pages;  // (container, page) of the sum area, punched then
  bool rotate_log = true;                                // false in recovery: one log, no writers
  bool undo_logged = false;                              // set once the undo records are in the log's buffer
  DedupIndex::Batch dedup_batch;                         // the generation's manifests, written before the commit
  DedupIndex* dedup = nullptr;                           // ... by this index (set with the batch, at the freeze)
};

class PoolImpl final : public Pool {
  friend class PoolImplTestPeer;  // corruption_test: damage the engine's own hands could do

 public:
  PoolImpl(Env* env, std::string dir, PoolOptions opts);
  ~PoolImpl() override;

  using Pool::Clone;
  using Pool::CreateVolume;
  StatusOr<VolumeId> CreateVolume(uint64_t size, uint64_t tag) override;
  Status ResizeVolume(VolumeId id, uint64_t size) override;
  Status DeleteVolume(VolumeId id) override;
  StatusOr<std::vector<VolumeId>> SnapshotMany(std::span<const VolumeId> sources, uint64_t tag) override;
  StatusOr<VolumeId> Clone(VolumeId source, uint64_t tag) override;
  StatusOr<VolumeId> AdoptVolume(const VolumeRoot& root, uint64_t tag) override;
  Status Rollback(VolumeId volume, VolumeId snapshot) override;
  Status Read(VolumeId id, uint64_t offset, std::span<char> buf, ReadStats* stats) override;
  Status Write(VolumeId id, uint64_t offset, std::span<const char> data) override;
  Status Trim(VolumeId id, uint64_t offset, uint64_t length) override;
  Status WriteZeroes(VolumeId id, uint64_t offset, uint64_t length, bool may_punch) override;
  Status Flush() override;
  Status SetDedup(DedupMode mode) override;
  StatusOr<std::vector<Extent>> Map(VolumeId id, uint64_t offset, uint64_t length) override;
  StatusOr<DiffResult> Diff(VolumeId from, VolumeId to) override;
  StatusOr<VolumeInfo> Info(VolumeId id) override;
  std::vector<VolumeInfo> ListVolumes() override;
  StatusOr<SpaceInfo> Space(VolumeId id) override;
  StatusOr<PoolStats> Stats() override;
  Status Checkpoint() override;
  Status Check(bool structure, CheckReport* report) override;
  Status VerifyRefcounts() override;
  Status Close() override;

  // Opening (pool_open.cc).
  Status InitNew();
  Status OpenExisting();

 private:
  // --- pool_open.cc
  Status LoadSuperblock();
  // Both superblock slots, each decoded or with the reason it is not valid.
  StatusOr<std::vector<StatusOr<Superblock>>> ReadSuperblockSlots();
  Status LoadVolumeTable() REQUIRES(writer_mu_);
  Status Recover() REQUIRES(writer_mu_);
  Status ReclaimGarbage(uint64_t* garbage_bytes, bool punch) REQUIRES(writer_mu_);
  // Whether page `page` of container c's sum area describes only units that
  // are free and below the cursor (so never used again).
  bool SumPageFree(uint64_t c, uint64_t page) const REQUIRES(writer_mu_);
  // Opens the deduplication index if the superblock says so, else removes a
  // stale one (pool_open.cc).
  Status OpenDedup() REQUIRES(writer_mu_);
  std::string DedupPath() const { return dir_ + "/dedup.idx"; }
  std::unique_ptr<DedupIndex> NewDedupIndex() const;  // with the pool's options; not loaded
  // fsck / scrub of the index (dedup.cc): every batch and manifest whole, and
  // every entry of a live block carrying that block's checksum (`data_csums`:
  // data block -> checksum, from the walk). Problems go to report->errors.
  Status CheckDedup(const std::unordered_map<uint64_t, uint64_t>& data_csums, CheckReport* report) REQUIRES(writer_mu_);

  // --- tree.cc
  uint32_t cluster_units() const { return sb_.cluster_size / kUnit; }
  // Whether `addr` is another pool's block in a shared container space
  // (PoolOptions::container_span): read-only here, never counted nor freed.
  bool Foreign(uint64_t addr) const { return opts_.container_span != 0 && ContainerOf(addr) >= opts_.container_span; }
  // That a block address can be read: one of this pool's below the cursor,
  // or a foreign one inside its container.
  Status CheckAddr(uint64_t addr, uint32_t units) const;
  RefTable NewRefTable() const { return RefTable(sb_.container_units, opts_.container_span); }
  StatusOr<std::shared_ptr<const Node>> LoadNode(const BlockPtr& p, ReadStats* stats) const;
  // Makes the node behind *ref private and dirty (copy-on-write) and returns it.
  StatusOr<Node*> MutableNode(BlockPtr* ref) REQUIRES(writer_mu_);
  // Drops one reference to the block behind p; `level` is the node level, -1 for
  // data. An index node whose last reference goes must be read first (to drop
  // its children); when that read fails, the whole drop is deferred
  // (deferred_unrefs_) and its blocks stay allocated until a retry succeeds.
  Status Unref(const BlockPtr& p, int level) REQUIRES(writer_mu_);
  // Retries the deferred drops (writer_mu_ and every volume lock held).
  void RetryDeferredUnrefs() REQUIRES(writer_mu_);
  void Release(uint64_t addr, uint32_t units) REQUIRES(writer_mu_);
  StatusOr<BlockPtr> Lookup(const VolumeRecord& v, uint64_t cluster, ReadStats* stats) const;
  StatusOr<std::pair<Node*, int>> LeafForWrite(VolumeRecord* v, uint64_t cluster) REQUIRES(writer_mu_);
  BlockPtr NewDataBlock(std::string content) REQUIRES(writer_mu_);
  // Adds the references of every block reachable from p into `refs` (open,
  // verify). An index node that cannot be read, or that points outside the
  // pool, is counted, not its children, and put in `damaged`; the walk goes on past it and returns its error (also
  // when it reaches a node already in `damaged`: a volume sharing it).
  Status WalkRefs(const BlockPtr& p, int level, RefTable* refs, std::vector<std::string>* problems,
                  std::set<uint64_t>& damaged) const;
  // Counts the volume table and every block reachable from every volume into
  // `refs`. Overlapping blocks go to `problems`. A volume whose tree reaches
  // an unreadable index node goes to *damaged_volumes with the reason (its
  // readable part counted, the node's address in *damaged_nodes); the other
  // volumes are not affected.
  void RebuildRefs(RefTable* refs, std::vector<std::string>* problems, std::set<uint64_t>* damaged_nodes,
                   std::map<VolumeId, std::string>* damaged_volumes) const REQUIRES(writer_mu_);
  // OK unless the volume was found damaged at open (then Corruption naming it).
  static Status Usable(VolumeId id, const VolumeState& st);
  using LeafFn = std::function<Status(uint64_t first_cluster, uint64_t count, const BlockPtr& p)>;
  // Calls fn for every leaf entry (or hole run) covering clusters [lo, hi).
  Status WalkLeaves(const BlockPtr& p, int level, uint64_t base, uint64_t lo, uint64_t hi, const LeafFn& fn) const;

  // --- diff.cc
  // A position in one of the two trees Diff walks, at walk level `level`: the
  // block there and the level it really has (below `level` when that tree is
  // shorter: then it is the e[0] chain of a virtual node, as a grown tree has).
  struct DiffPos {
    BlockPtr p;
    int real_level;
  };
  using DiffFn = std::function<void(uint64_t cluster, const BlockPtr& to)>;
  Status DiffWalk(const DiffPos& a, const DiffPos& b, int level, uint64_t base, uint64_t lo, uint64_t hi,
                  const DiffFn& fn, uint64_t* nodes) const;

  // --- io.cc
  Status ReadBlock(const BlockPtr& p, uint32_t offset, uint32_t length, char* dst) const;
  // `print`: the whole cluster's ClusterPrint if already computed.
  Status WriteCluster(VolumeRecord* v, uint64_t cluster, uint32_t offset, const char* data, uint32_t length,
                      const ClusterPrint* print) REQUIRES(writer_mu_);
  // The block for a cluster's new content (writer_mu_ held): the zero marker
  // for zeroes; with deduplication on, an existing block of the same content
  // (one more reference); otherwise a new dirty block.
  BlockPtr StoreCluster(VolumeId stream, std::string content, const ClusterPrint* print) REQUIRES(writer_mu_);
  ClusterPrint PrintCluster(const char* data) const;
  // With deduplication on, the fingerprints of the whole, non-zero clusters of
  // a write (indexed by cluster - offset / cluster size), computed before the
  // writer lock is taken; empty otherwise.
  std::vector<ClusterPrint> FingerprintWrite(uint64_t offset, std::span<const char> data) const;
  // DoWrite and DoDiscard change whole clusters one at a time; on failure
  // *applied (if given) says how many bytes from `offset` were changed (a
  // cluster boundary), and nothing after them was.
  Status DoWrite(VolumeRecord* v, uint64_t offset, const char* data, uint64_t length, uint64_t* applied = nullptr,
                 const std::vector<ClusterPrint>* prints = nullptr) REQUIRES(writer_mu_);
  enum class Discard { kTrim, kZeroPunch, kZeroAlloc };
  Status DoDiscard(VolumeRecord* v, uint64_t offset, uint64_t length, Discard mode, uint64_t* applied = nullptr)
      REQUIRES(writer_mu_);

  // --- volume_ops.cc
  // Writer side (writer_mu_ held).
  StatusOr<VolumeRecord*> Find(VolumeId id) REQUIRES(writer_mu_);
  StatusOr<const VolumeRecord*> FindConst(VolumeId id) const REQUIRES(writer_mu_);
  StatusOr<std::shared_ptr<VolumeState>> FindState(VolumeId id) const REQUIRES(writer_mu_);
  void InsertVolume(const VolumeRecord& r) REQUIRES(writer_mu_);
  // Reader side: the volume's state, to be locked shared by the caller.
  StatusOr<std::shared_ptr<VolumeState>> FindForRead(VolumeId id) const;
  // Every volume's lock, exclusively, in id order (writer_mu_ held).
  std::vector<std::unique_lock<SharedMutex>> LockAllVolumes() REQUIRES(writer_mu_);
  uint64_t AllocateAddr(uint32_t units) REQUIRES(writer_mu_);
  Status CheckRange(const VolumeRecord& v, uint64_t offset, uint64_t length) const;
  Status CheckWritable(const VolumeRecord& v) const;
  Status DoCreate(VolumeId id, uint64_t size, int64_t now, uint64_t tag) REQUIRES(writer_mu_);
  Status DoDelete(VolumeId id) REQUIRES(writer_mu_);
  Status DoResize(VolumeRecord* v, uint64_t size) REQUIRES(writer_mu_);
  // Logs and applies one snapshot (read-only) or clone; the caller holds
  // writer_mu_ and syncs.
  StatusOr<VolumeId> CopyVolumeLocked(VolumeId source, bool read_only, uint64_t tag) REQUIRES(writer_mu_);
  Status DoCopy(VolumeId new_id, VolumeId source, int64_t now, bool read_only, uint64_t tag) REQUIRES(writer_mu_);
  Status DoAdopt(VolumeId id, int64_t now, uint64_t tag, const VolumeRoot& root) REQUIRES(writer_mu_);
  Status CheckAdoptable(const VolumeRoot& root) const;
  Status DoRollback(VolumeRecord* v, const VolumeRecord& snap) REQUIRES(writer_mu_);
  Status Apply(const WalRecord& r) REQUIRES(writer_mu_);  // replays one redo record
  // Makes room in the live log's buffer (writing it out once the frozen log is
  // durable); after it, an Append cannot fail.
  Status PrepareLog() REQUIRES(writer_mu_);
  // PrepareLog + Append: for operations that log first, then apply.
  Status Log(WalType type, const std::string& payload) REQUIRES(writer_mu_);
  // Trim / WriteZeroes (writer_mu_ taken here).
  Status DiscardRange(VolumeId id, uint64_t offset, uint64_t length, Discard mode);
  // The range mutations' protocol, apply then log (volume_ops.cc; writer_mu_ held).
  template <typename ApplyFn, typename RecordFn>
  Status ApplyThenLog(VolumeState* st, ApplyFn apply, RecordFn record) REQUIRES(writer_mu_);
  // The common start of Write / Trim / WriteZeroes (writer_mu_ held): checks the
  // volume and range, returns nullptr when there is nothing to do, otherwise
  // runs Admit() (which may checkpoint). The caller then applies the change
  // with the volume locked exclusively and logs it after releasing that lock
  // (ApplyThenLog), so readers wait for the change to memory only, not for the
  // log append.
  StatusOr<std::shared_ptr<VolumeState>> BeginRangeMutation(VolumeId id, uint64_t offset, uint64_t length)
      REQUIRES(writer_mu_);
  // Before a mutation: checkpoint if dirty state or the log is over its bound.
  Status Admit() REQUIRES(writer_mu_);
  // The log sync that ends a metadata operation (PoolOptions::sync_metadata_ops).
  Status SyncMetadata() REQUIRES(writer_mu_);

  // --- space.cc
  // Before `bytes` of new data (writer_mu_ held): OK while the file system can
  // take them, the dirty data's checkpoint and the reserve
  // (PoolOptions::space_reserve_bytes). When it cannot, checkpoints first if
  // that gives space back (blocks freed by trims and deletes, the log), then
  // kNoSpace saying how much is free and kept.
  Status AdmitSpace(uint64_t bytes) REQUIRES(writer_mu_);
  // Reads the file system's free space (and resolves the reserve once).
  Status RefreshSpace() REQUIRES(writer_mu_);

  // --- checkpoint.cc
  // Freezes the dirty generation and starts its background checkpoint, after
  // waiting for the one in flight, if any (writer_mu_ and every volume lock
  // held). `gen_step` is how far the generation advances (2 in recovery).
  Status FreezeLocked(uint64_t gen_step = 1, bool rotate_log = true) REQUIRES(writer_mu_);
  // The freeze's steps: undo payloads, sums and checksums bottom-up (the
  // blocks to write); the volume table, the next superblock and the dedup
  // batch; what the generation frees once the superblock is down.
  struct FreezeState;
  Status FreezeBlocks(CheckpointJob* job, FreezeState* fs) REQUIRES(writer_mu_);
  void FreezeSuperblock(CheckpointJob* job, uint64_t gen_step, const FreezeState& fs) REQUIRES(writer_mu_);
  void FreezeFrees(CheckpointJob* job) REQUIRES(writer_mu_);
  // Waits for the in-flight checkpoint, if any (writer_mu_ held); its status.
  Status WaitCheckpointLocked() REQUIRES(writer_mu_);
  bool CheckpointRunning() const;
  // Freeze + wait: a whole checkpoint (writer_mu_ held; takes the volume locks).
  Status CheckpointNowLocked(uint64_t gen_step = 1, bool rotate_log = true) REQUIRES(writer_mu_);
  void RunCheckpoint(std::unique_ptr<CheckpointJob> job, Wal* frozen_log);
  // Before writing to the live log: waits until the frozen log is durable, so
  // the live log never holds records whose predecessors could be lost.
  // Waits until the frozen log is durable (writer_mu_ held). When its sync
  // failed, retries the failed checkpoint (WaitCheckpointLocked) and returns
  // that checkpoint's error if it fails again.
  Status FrozenLogDurable() REQUIRES(writer_mu_);
  // The content and unit sums of a committed (or frozen) data block's units
  // [u0, u1): what an overlay starts from. Verified; Corruption if damaged.
  Status CommittedUnits(const BlockPtr& p, uint32_t u0, uint32_t u1, char* dst, std::vector<uint64_t>* sums) const;
  StatusOr<uint64_t> FinalizeNode(uint64_t addr, int level, std::unordered_map<uint64_t, uint64_t>* new_csums,
                                  std::unordered_map<uint64_t, uint64_t>* memo, std::vector<UnitWrite>* writes,
                                  std::vector<std::unique_ptr<char[]>>* bufs);

  Env* env_;
  std::string dir_;
  PoolOptions opts_;
  std::unique_ptr<Env::Lock> lock_;
  Superblock sb_;
  std::atomic<uint64_t> cursor_{0};  // next free address (the committed one is sb_.cursor)
  uint64_t next_id_ GUARDED_BY(writer_mu_) = 1;
  std::unique_ptr<BlockStore> owned_store_;          // the default store (files), when none was passed
  BlockStore* store_ = nullptr;                      // owned_store_ or PoolOptions::block_store
  mutable Mutex writer_mu_;                          // serialises every mutation, checkpoint and check
  std::unique_ptr<Wal> wal_ GUARDED_BY(writer_mu_);  // the live log
  std::map<VolumeId, std::shared_ptr<VolumeState>> vols_ GUARDED_BY(writer_mu_);  // writer side, ordered
  ShardedMap<VolumeId, std::shared_ptr<VolumeState>> vol_index_;                  // reader side
  RefTable refs_ GUARDED_BY(writer_mu_);
  ShardedMap<uint64_t, std::shared_ptr<Node>> dirty_nodes_;
  ShardedMap<uint64_t, std::shared_ptr<std::string>> dirty_data_;
  ShardedMap<uint64_t, std::shared_ptr<Overlay>> overlays_;
  // Committed or frozen blocks freed this generation.
  std::vector<std::pair<uint64_t, uint32_t>> pending_free_ GUARDED_BY(writer_mu_);
  std::vector<std::pair<BlockPtr, int>> deferred_unrefs_ GUARDED_BY(writer_mu_);  // Unref: nodes that could not be read
  // Index nodes found unreadable at open: their children were never counted,
  // so dropping their last reference frees the node alone.
  std::set<uint64_t> damaged_nodes_ GUARDED_BY(writer_mu_);
  // The in-flight checkpoint's generation (see CHECKPOINT above).
  ShardedMap<uint64_t, std::shared_ptr<Node>> frozen_nodes_;
  ShardedMap<uint64_t, std::shared_ptr<const FrozenData>> frozen_data_;
  ShardedMap<uint64_t, std::shared_ptr<const FrozenOverlay>> frozen_overlays_;
  std::unique_ptr<Wal> spare_wal_;                    // the next generation's log; the frozen one while in flight
  mutable Mutex ckpt_mu_ ACQUIRED_AFTER(writer_mu_);  // the hand-over to the checkpoint thread
  CondVar ckpt_cv_;
  bool ckpt_running_ GUARDED_BY(ckpt_mu_) = false;
  bool frozen_log_synced_ GUARDED_BY(ckpt_mu_) = true;
  Status ckpt_status_ GUARDED_BY(ckpt_mu_);  // of the last checkpoint attempt
  // A checkpoint that failed before its commit, kept whole to be run again by
  // the next WaitCheckpointLocked (its frozen maps stay readable meanwhile).
  std::unique_ptr<CheckpointJob> failed_job_ GUARDED_BY(ckpt_mu_);
  Wal* failed_log_ GUARDED_BY(ckpt_mu_) = nullptr;
  std::thread ckpt_thread_;  // joined under writer_mu_
  mutable NodeCache cache_;
  // Index node loads answered from memory (dirty, frozen or cached nodes) /
  // read from disk, since open (PoolStats).
  mutable std::atomic<uint64_t> node_hits_{0}, node_misses_{0};
  uint64_t dirty_bytes_ GUARDED_BY(writer_mu_) = 0;
  bool vtable_dirty_ GUARDED_BY(writer_mu_) = false;
  bool sb_dirty_ GUARDED_BY(writer_mu_) = false;  // a superblock field other than the checkpoint's changed (SetDedup)
  // Deduplication: the mode (sb_.dedup, readable without the writer lock),
  // the index (null when off; writer side, and the checkpoint's batch write)
  // and what the pool did with its candidates since opening.
  std::atomic<DedupMode> dedup_mode_{DedupMode::kOff};
  std::unique_ptr<DedupIndex> dedup_ GUARDED_BY(writer_mu_);
  uint64_t dedup_hits_ GUARDED_BY(writer_mu_) = 0;
  uint64_t dedup_verify_mismatches_ GUARDED_BY(writer_mu_) = 0;
  // Space admission (space.cc), writer side: the reserve, the free space last
  // read, when, and what was admitted since.
  uint64_t reserve_ GUARDED_BY(writer_mu_) = 0;
  uint64_t space_free_ GUARDED_BY(writer_mu_) = 0;
  int64_t space_read_ns_ GUARDED_BY(writer_mu_) = 0;
  uint64_t space_admitted_ GUARDED_BY(writer_mu_) = 0;
  bool replaying_ GUARDED_BY(writer_mu_) = false;
  bool closed_ GUARDED_BY(writer_mu_) = false;
  bool closing_ GUARDED_BY(writer_mu_) = false;  // Close() is checkpointing: every open dedup manifest is sealed
  std::vector<std::string> open_problems_;       // structural problems seen while opening
  Status broken_;                                // set when the pool cannot go on: closed, or a resize half done
};

}  // namespace vmstore::internal
