// Volume lifecycle (create, delete, resize, snapshot, clone, rollback), the
// public entry points that log and apply them, and log replay.
#include <functional>
#include <mutex>
#include <set>

#include "engine/pool_impl.h"
#include "util/coding.h"

namespace vmstore::internal {

namespace {
constexpr uint64_t kMaxVolumeSize = uint64_t{1} << 50;  // 1 PiB

uint64_t Capacity(uint32_t height) { return height >= 8 ? UINT64_MAX : uint64_t{1} << (kFanoutBits * height); }

uint32_t HeightFor(uint64_t clusters) {
  uint32_t h = 1;
  while (Capacity(h) < clusters) ++h;
  return h;
}

std::string Pack(std::initializer_list<uint64_t> vals) {
  std::string s;
  for (uint64_t v : vals) AppendU64(&s, v);
  return s;
}

std::string VolName(VolumeId id) { return "volume " + std::to_string(id); }
}  // namespace

StatusOr<std::shared_ptr<VolumeState>> PoolImpl::FindState(VolumeId id) const {
  auto it = vols_.find(id);
  if (it == vols_.end()) return NotFound(VolName(id) + " does not exist");
  return it->second;
}

StatusOr<VolumeRecord*> PoolImpl::Find(VolumeId id) {
  ASSIGN_OR_RETURN(auto st, FindState(id));
  RETURN_IF_ERROR(Usable(id, *st));
  return &st->rec;
}

StatusOr<const VolumeRecord*> PoolImpl::FindConst(VolumeId id) const {
  ASSIGN_OR_RETURN(auto st, FindState(id));
  return &st->rec;
}

StatusOr<std::shared_ptr<VolumeState>> PoolImpl::FindForRead(VolumeId id) const {
  auto st = vol_index_.Get(id);
  if (!st) return NotFound(VolName(id) + " does not exist");
  RETURN_IF_ERROR(Usable(id, *st));
  return st;
}

void PoolImpl::InsertVolume(const VolumeRecord& r) {
  auto st = std::make_shared<VolumeState>();
  st->rec = r;
  vols_[r.id] = st;
  vol_index_.Put(r.id, st);
}

std::vector<std::unique_lock<SharedMutex>> PoolImpl::LockAllVolumes() {
  std::vector<std::unique_lock<SharedMutex>> locks;
  locks.reserve(vols_.size());
  for (auto& [id, st] : vols_) locks.emplace_back(st->mu);
  return locks;
}

Status PoolImpl::CheckRange(const VolumeRecord& v, uint64_t offset, uint64_t length) const {
  if (offset > v.size || length > v.size - offset) {
    return OutOfRange(VolName(v.id) + ": range " + std::to_string(offset) + "+" + std::to_string(length) +
                      " beyond size " + std::to_string(v.size));
  }
  return Status::OK();
}

Status PoolImpl::CheckWritable(const VolumeRecord& v) const {
  if (v.read_only()) return FailedPrecondition(VolName(v.id) + " is a read-only snapshot");
  return Status::OK();
}

static Status CheckSize(uint64_t size) {
  if (size == 0 || size % 512 != 0) {
    return InvalidArgument("volume size " + std::to_string(size) + " is not a positive multiple of 512");
  }
  if (size > kMaxVolumeSize) return InvalidArgument("volume size " + std::to_string(size) + " exceeds 1 PiB");
  return Status::OK();
}

Status PoolImpl::PrepareLog() {
  if (replaying_ || !wal_->NeedsWriteOut()) return Status::OK();
  RETURN_IF_ERROR(FrozenLogDurable());
  return wal_->WriteOut();
}

Status PoolImpl::Log(WalType type, const std::string& payload) {
  RETURN_IF_ERROR(PrepareLog());
  if (!replaying_) wal_->Append(type, payload);
  return Status::OK();
}

Status PoolImpl::SyncMetadata() {
  if (!opts_.sync_metadata_ops) return Status::OK();
  RETURN_IF_ERROR(FrozenLogDurable());
  if (wal_->sync_failed()) return IOError("an earlier sync of the log failed; the next flush checkpoints");
  return wal_->Sync();
}

Status PoolImpl::Admit() {
  if (!broken_.ok()) return broken_;
  if (replaying_) return Status::OK();
  const uint64_t dirty = dirty_bytes_, log = wal_->bytes();
  if (dirty < opts_.max_dirty_bytes && log < opts_.max_wal_bytes) return Status::OK();
  if (CheckpointRunning()) {
    // Let the one in flight finish while the new generation grows, up to
    // twice the bounds; past that, writers wait for it.
    if (dirty < 2 * opts_.max_dirty_bytes && log < 2 * opts_.max_wal_bytes) return Status::OK();
    RETURN_IF_ERROR(WaitCheckpointLocked());
  }
  auto locks = LockAllVolumes();
  return FreezeLocked();
}

// ---- apply (shared by live calls and replay)

Status PoolImpl::DoCreate(VolumeId id, uint64_t size, int64_t now, uint64_t tag) {
  VolumeRecord r;
  r.id = id;
  r.tag = tag;
  r.size = size;
  r.height = HeightFor((size + sb_.cluster_size - 1) / sb_.cluster_size);
  r.created_ns = now;
  InsertVolume(r);
  next_id_ = std::max(next_id_, id + 1);
  vtable_dirty_ = true;
  return Status::OK();
}

Status PoolImpl::DoDelete(VolumeId id) {
  ASSIGN_OR_RETURN(auto st, FindState(id));
  VolumeRecord r;
  {
    std::unique_lock<SharedMutex> l(st->mu);  // waits for the volume's readers
    r = st->rec;
    vol_index_.Erase(id);
    vols_.erase(id);
  }
  vtable_dirty_ = true;
  return Unref(r.root, static_cast<int>(r.height) - 1);
}

Status PoolImpl::DoResize(VolumeRecord* v, uint64_t size) {
  const uint64_t C = sb_.cluster_size;
  uint64_t new_clusters = (size + C - 1) / C;
  if (size < v->size) {
    uint64_t old_clusters = (v->size + C - 1) / C;
    if (old_clusters > new_clusters) {
      RETURN_IF_ERROR(DoDiscard(v, new_clusters * C, (old_clusters - new_clusters) * C, Discard::kTrim));
    }
    // The tail of the last cluster must read as zero if the volume grows again.
    if (size % C) RETURN_IF_ERROR(DoDiscard(v, size, new_clusters * C - size, Discard::kTrim));
    while (v->height > 1 && Capacity(v->height - 1) >= new_clusters) {
      BlockPtr old = v->root;
      int old_level = static_cast<int>(v->height) - 1;
      if (IsReal(old.addr)) {
        ASSIGN_OR_RETURN(auto node, LoadNode(old, nullptr));
        v->root = node->e[0];
        if (IsReal(v->root.addr)) refs_.Incr(v->root.addr);
      }
      --v->height;
      RETURN_IF_ERROR(Unref(old, old_level));
    }
  } else {
    while (Capacity(v->height) < new_clusters) {
      if (IsReal(v->root.addr)) {
        BlockPtr child = v->root;
        v->root = BlockPtr{};
        ASSIGN_OR_RETURN(Node * n, MutableNode(&v->root));
        n->e[0] = child;  // the volume's reference moves into the new root
      }
      ++v->height;
    }
  }
  v->size = size;
  vtable_dirty_ = true;
  return Status::OK();
}

Status PoolImpl::DoCopy(VolumeId new_id, VolumeId source, int64_t now, bool read_only, uint64_t tag) {
  ASSIGN_OR_RETURN(VolumeRecord * src, Find(source));
  VolumeRecord r = *src;
  r.id = new_id;
  r.tag = tag;
  r.flags = read_only ? 1 : 0;
  r.parent = source;
  r.created_ns = now;
  if (IsReal(r.root.addr)) refs_.Incr(r.root.addr);
  InsertVolume(r);
  next_id_ = std::max(next_id_, new_id + 1);
  vtable_dirty_ = true;
  return Status::OK();
}

Status PoolImpl::DoAdopt(VolumeId id, int64_t now, uint64_t tag, const VolumeRoot& root) {
  VolumeRecord r;
  r.id = id;
  r.size = root.size;
  r.root = BlockPtr{root.addr, root.csum};
  r.height = root.height;
  r.created_ns = now;
  r.tag = tag;
  InsertVolume(r);
  next_id_ = std::max(next_id_, id + 1);
  vtable_dirty_ = true;
  return Status::OK();
}

Status PoolImpl::DoRollback(VolumeRecord* v, const VolumeRecord& snap) {
  BlockPtr old = v->root;
  int old_level = static_cast<int>(v->height) - 1;
  if (IsReal(snap.root.addr)) refs_.Incr(snap.root.addr);
  v->root = snap.root;
  v->height = snap.height;
  v->size = snap.size;
  vtable_dirty_ = true;
  return Unref(old, old_level);
}

Status PoolImpl::Apply(const WalRecord& r) {
  const std::string& p = r.payload;
  auto u64 = [&](size_t i) { return p.size() >= (i + 1) * 8 ? GetU64(p.data() + i * 8) : 0; };
  switch (r.type) {
    case WalType::kCreate:
      return DoCreate(u64(0), u64(1), static_cast<int64_t>(u64(2)), u64(3));
    case WalType::kDelete:
      return DoDelete(u64(0));
    case WalType::kResize: {
      ASSIGN_OR_RETURN(VolumeRecord * v, Find(u64(0)));
      return DoResize(v, u64(1));
    }
    case WalType::kSnapshot:
    case WalType::kClone:
      return DoCopy(u64(0), u64(1), static_cast<int64_t>(u64(2)), r.type == WalType::kSnapshot, u64(3));
    case WalType::kAdopt: {
      VolumeRoot root{u64(3), u64(4), static_cast<uint32_t>(u64(5)), u64(6), sb_.cluster_size};
      RETURN_IF_ERROR(CheckAdoptable(root));
      return DoAdopt(u64(0), static_cast<int64_t>(u64(1)), u64(2), root);
    }
    case WalType::kRollback: {
      ASSIGN_OR_RETURN(VolumeRecord * v, Find(u64(0)));
      ASSIGN_OR_RETURN(VolumeRecord * s, Find(u64(1)));
      return DoRollback(v, *s);
    }
    case WalType::kWrite: {
      if (p.size() < 16) return Corruption("short write record");
      ASSIGN_OR_RETURN(VolumeRecord * v, Find(u64(0)));
      return DoWrite(v, u64(1), p.data() + 16, p.size() - 16);
    }
    case WalType::kTrim:
    case WalType::kZero: {
      ASSIGN_OR_RETURN(VolumeRecord * v, Find(u64(0)));
      Discard mode = r.type == WalType::kTrim ? Discard::kTrim
                     : (u64(3) & 1)           ? Discard::kZeroPunch
                                              : Discard::kZeroAlloc;
      return DoDiscard(v, u64(1), u64(2), mode);
    }
    case WalType::kUndo:
      return Status::OK();  // handled before replay
  }
  return Corruption("unknown log record type " + std::to_string(static_cast<uint32_t>(r.type)));
}

// ---- public entry points

StatusOr<VolumeId> PoolImpl::CreateVolume(uint64_t size, uint64_t tag) {
  MutexLock w(&writer_mu_);
  RETURN_IF_ERROR(CheckSize(size));
  RETURN_IF_ERROR(Admit());
  VolumeId id = next_id_;
  int64_t now = env_->NowNanos();
  RETURN_IF_ERROR(Log(WalType::kCreate, Pack({id, size, static_cast<uint64_t>(now), tag})));
  RETURN_IF_ERROR(DoCreate(id, size, now, tag));
  RETURN_IF_ERROR(SyncMetadata());
  return id;
}

Status PoolImpl::ResizeVolume(VolumeId id, uint64_t size) {
  MutexLock w(&writer_mu_);
  RETURN_IF_ERROR(CheckSize(size));
  ASSIGN_OR_RETURN(VolumeRecord * v, Find(id));
  RETURN_IF_ERROR(CheckWritable(*v));
  RETURN_IF_ERROR(Admit());
  std::unique_lock<SharedMutex> vl(vols_.at(id)->mu);  // excludes this volume's readers
  RETURN_IF_ERROR(Log(WalType::kResize, Pack({id, size})));
  if (Status s = DoResize(v, size); !s.ok()) {
    // Logged but applied only in part (a read failed): memory and log differ.
    broken_ = Status(s.code(), "pool must be reopened after a resize failed midway: " + s.message());
    return broken_;
  }
  return SyncMetadata();
}

Status PoolImpl::DeleteVolume(VolumeId id) {
  MutexLock w(&writer_mu_);
  RETURN_IF_ERROR(FindConst(id).status());
  RETURN_IF_ERROR(Admit());
  RETURN_IF_ERROR(Log(WalType::kDelete, Pack({id})));
  RETURN_IF_ERROR(DoDelete(id));
  return SyncMetadata();
}

StatusOr<VolumeId> PoolImpl::CopyVolumeLocked(VolumeId source, bool read_only, uint64_t tag) {
  VolumeId id = next_id_;
  int64_t now = env_->NowNanos();
  WalType type = read_only ? WalType::kSnapshot : WalType::kClone;
  RETURN_IF_ERROR(Log(type, Pack({id, source, static_cast<uint64_t>(now), tag})));
  RETURN_IF_ERROR(DoCopy(id, source, now, read_only, tag));
  return id;
}

StatusOr<std::vector<VolumeId>> PoolImpl::SnapshotMany(std::span<const VolumeId> sources, uint64_t tag) {
  MutexLock w(&writer_mu_);
  std::set<VolumeId> seen;
  for (VolumeId s : sources) {
    RETURN_IF_ERROR(Find(s).status());  // exists and is not damaged
    if (!seen.insert(s).second) return InvalidArgument(VolName(s) + " is listed twice");
  }
  RETURN_IF_ERROR(Admit());
  std::vector<VolumeId> ids;
  for (VolumeId s : sources) {
    ASSIGN_OR_RETURN(VolumeId id, CopyVolumeLocked(s, /*read_only=*/true, tag));
    ids.push_back(id);
  }
  RETURN_IF_ERROR(SyncMetadata());
  return ids;
}

StatusOr<VolumeId> PoolImpl::Clone(VolumeId source, uint64_t tag) {
  MutexLock w(&writer_mu_);
  RETURN_IF_ERROR(Find(source).status());  // exists and is not damaged
  RETURN_IF_ERROR(Admit());
  ASSIGN_OR_RETURN(VolumeId id, CopyVolumeLocked(source, /*read_only=*/false, tag));
  RETURN_IF_ERROR(SyncMetadata());
  return id;
}

Status PoolImpl::CheckAdoptable(const VolumeRoot& root) const {
  if (opts_.container_span == 0) {
    return InvalidArgument("this pool shares no container space with other pools; it cannot adopt their volumes");
  }
  if (root.cluster_size != sb_.cluster_size) {
    return InvalidArgument("the volume's pool uses " + std::to_string(root.cluster_size) + "-byte clusters; this one " +
                           std::to_string(sb_.cluster_size));
  }
  if (IsReal(root.addr) && !Foreign(root.addr)) {
    return InvalidArgument("root " + Hex(root.addr) + " is in this pool's own containers, not another pool's");
  }
  RETURN_IF_ERROR(CheckSize(root.size));
  const uint64_t clusters = (root.size + sb_.cluster_size - 1) / sb_.cluster_size;
  if (root.height != HeightFor(clusters)) {
    return InvalidArgument("a tree of height " + std::to_string(root.height) + " does not fit a volume of " +
                           std::to_string(root.size) + " bytes");
  }
  return Status::OK();
}

StatusOr<VolumeId> PoolImpl::AdoptVolume(const VolumeRoot& root, uint64_t tag) {
  MutexLock w(&writer_mu_);
  RETURN_IF_ERROR(CheckAdoptable(root));
  RETURN_IF_ERROR(Admit());
  VolumeId id = next_id_;
  int64_t now = env_->NowNanos();
  RETURN_IF_ERROR(
      Log(WalType::kAdopt, Pack({id, static_cast<uint64_t>(now), tag, root.addr, root.csum, root.height, root.size})));
  RETURN_IF_ERROR(DoAdopt(id, now, tag, root));
  RETURN_IF_ERROR(SyncMetadata());
  return id;
}

Status PoolImpl::Rollback(VolumeId volume, VolumeId snapshot) {
  MutexLock w(&writer_mu_);
  ASSIGN_OR_RETURN(VolumeRecord * v, Find(volume));
  ASSIGN_OR_RETURN(VolumeRecord * s, Find(snapshot));
  RETURN_IF_ERROR(CheckWritable(*v));
  if (volume == snapshot) return InvalidArgument("cannot roll " + VolName(volume) + " back to itself");
  RETURN_IF_ERROR(Admit());
  std::unique_lock<SharedMutex> vl(vols_.at(volume)->mu);  // excludes this volume's readers
  RETURN_IF_ERROR(Log(WalType::kRollback, Pack({volume, snapshot})));
  RETURN_IF_ERROR(DoRollback(v, *s));
  return SyncMetadata();
}

StatusOr<std::shared_ptr<VolumeState>> PoolImpl::BeginRangeMutation(VolumeId id, uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(auto st, FindState(id));
  RETURN_IF_ERROR(Usable(id, *st));
  RETURN_IF_ERROR(CheckWritable(st->rec));
  RETURN_IF_ERROR(CheckRange(st->rec, offset, length));
  if (length == 0) return std::shared_ptr<VolumeState>();
  RETURN_IF_ERROR(Admit());
  return st;
}

// Range mutations apply first and log what was applied: a read failing midway
// (a shared block's old content, an index node) stops the change at a cluster
// boundary, and the log then holds exactly that prefix, so a replay rebuilds
// what memory holds (and what snapshots taken afterwards share). Nothing that
// can fail runs between the change and its record: the log made room before.
// `apply(rec, &applied)` changes the volume; `record(applied)` appends the
// record of what it changed.
template <typename ApplyFn, typename RecordFn>
Status PoolImpl::ApplyThenLog(VolumeState* st, ApplyFn apply, RecordFn record) {
  RETURN_IF_ERROR(PrepareLog());
  uint64_t applied = 0;
  Status s;
  {
    std::unique_lock<SharedMutex> vl(st->mu);  // excludes this volume's readers
    s = apply(&st->rec, &applied);
  }
  if (applied > 0) record(applied);
  return s;
}

Status PoolImpl::Write(VolumeId id, uint64_t offset, std::span<const char> data) {
  // Hashing is the costly part of deduplication: done before the lock, so
  // writers of several connections hash in parallel.
  const std::vector<ClusterPrint> prints = FingerprintWrite(offset, data);
  MutexLock w(&writer_mu_);
  ASSIGN_OR_RETURN(auto st, BeginRangeMutation(id, offset, data.size()));
  if (!st) return Status::OK();
  RETURN_IF_ERROR(AdmitSpace(data.size()));
  return ApplyThenLog(
      st.get(),
      [&](VolumeRecord* v, uint64_t* applied) {
        writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
        return DoWrite(v, offset, data.data(), data.size(), applied, &prints);
      },
      [&](uint64_t applied) {
        writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
        std::string payload = Pack({id, offset});
        payload.append(data.data(), applied);
        wal_->Append(WalType::kWrite, payload);
      });
}

Status PoolImpl::Trim(VolumeId id, uint64_t offset, uint64_t length) {
  return DiscardRange(id, offset, length, Discard::kTrim);
}

Status PoolImpl::WriteZeroes(VolumeId id, uint64_t offset, uint64_t length, bool may_punch) {
  return DiscardRange(id, offset, length, may_punch ? Discard::kZeroPunch : Discard::kZeroAlloc);
}

Status PoolImpl::DiscardRange(VolumeId id, uint64_t offset, uint64_t length, Discard mode) {
  MutexLock w(&writer_mu_);
  ASSIGN_OR_RETURN(auto st, BeginRangeMutation(id, offset, length));
  if (!st) return Status::OK();
  return ApplyThenLog(
      st.get(),
      [&](VolumeRecord* v, uint64_t* applied) {
        writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
        return DoDiscard(v, offset, length, mode, applied);
      },
      [&](uint64_t applied) {
        writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
        if (mode == Discard::kTrim) {
          wal_->Append(WalType::kTrim, Pack({id, offset, applied}));
        } else {
          wal_->Append(WalType::kZero, Pack({id, offset, applied, mode == Discard::kZeroPunch ? 1u : 0u}));
        }
      });
}

Status PoolImpl::Flush() {
  MutexLock w(&writer_mu_);
  if (!broken_.ok()) return broken_;
  RETURN_IF_ERROR(FrozenLogDurable());  // what was logged before a freeze, first
  if (wal_->sync_failed()) {
    auto locks = LockAllVolumes();
    return CheckpointNowLocked();  // the only way to make that log's records safe
  }
  return wal_->Sync();
}

// ---- information

static VolumeInfo ToInfo(const VolumeState& st) {
  const VolumeRecord& r = st.rec;
  return VolumeInfo{r.id, r.size, r.read_only(), r.parent, r.created_ns, r.height, r.tag, st.damaged};
}

StatusOr<VolumeInfo> PoolImpl::Info(VolumeId id) {
  MutexLock w(&writer_mu_);
  ASSIGN_OR_RETURN(auto st, FindState(id));
  return ToInfo(*st);
}

std::vector<VolumeInfo> PoolImpl::ListVolumes() {
  MutexLock w(&writer_mu_);
  std::vector<VolumeInfo> out;
  for (auto& [id, st] : vols_) out.push_back(ToInfo(*st));
  return out;
}

StatusOr<SpaceInfo> PoolImpl::Space(VolumeId id) {
  MutexLock w(&writer_mu_);
  ASSIGN_OR_RETURN(const VolumeRecord* v, FindConst(id));
  SpaceInfo s;
  s.logical = v->size;
  const uint64_t C = sb_.cluster_size;
  int top = static_cast<int>(v->height) - 1;
  RETURN_IF_ERROR(WalkLeaves(v->root, top, 0, 0, (v->size + C - 1) / C, [&](uint64_t, uint64_t, const BlockPtr& p) {
    if (IsReal(p.addr)) s.referenced += C;
    return Status::OK();
  }));
  // Exclusive: simulate deleting the volume and count what would be freed.
  std::unordered_map<uint64_t, uint32_t> dropped;
  std::function<Status(const BlockPtr&, int)> sim = [&](const BlockPtr& p, int level) -> Status {
    writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
    if (!IsReal(p.addr)) return Status::OK();
    if (refs_.Get(p.addr) > ++dropped[p.addr]) return Status::OK();
    if (level < 0) {
      s.exclusive += C;
      return Status::OK();
    }
    ASSIGN_OR_RETURN(auto node, LoadNode(p, nullptr));
    for (const BlockPtr& c : node->e) RETURN_IF_ERROR(sim(c, level - 1));
    return Status::OK();
  };
  RETURN_IF_ERROR(sim(v->root, top));
  return s;
}

StatusOr<PoolStats> PoolImpl::Stats() {
  MutexLock w(&writer_mu_);
  (void)WaitCheckpointLocked();  // figures of a settled generation (a failure shows elsewhere)
  PoolStats s;
  s.cluster_size = sb_.cluster_size;
  s.generation = sb_.generation;
  s.volumes = vols_.size();
  s.live_bytes = refs_.live_units() * kUnit;
  ASSIGN_OR_RETURN(uint64_t containers, store_->AllocatedBytes());
  s.physical_bytes = containers;
  std::vector<std::string> files = {dir_ + "/superblock", dir_ + "/wal", dir_ + "/wal2"};
  if (dedup_) files.push_back(DedupPath());
  for (const std::string& name : files) {
    ASSIGN_OR_RETURN(auto f, env_->OpenFile(name, false));
    ASSIGN_OR_RETURN(uint64_t b, f->AllocatedBytes());
    s.physical_bytes += b;
  }
  s.wal_bytes = wal_->bytes();
  s.dirty_bytes = dirty_bytes_;
  s.data_bytes = refs_.data_blocks() * sb_.cluster_size;
  s.dedup = dedup_mode_.load();
  if (dedup_) s.dedup_stats = dedup_->stats();
  s.dedup_stats.hits = dedup_hits_;
  s.dedup_stats.hit_bytes = dedup_hits_ * sb_.cluster_size;
  s.dedup_stats.verify_mismatches = dedup_verify_mismatches_;
  s.node_cache_hits = node_hits_.load(std::memory_order_relaxed);
  s.node_cache_misses = node_misses_.load(std::memory_order_relaxed);
  s.node_cache_nodes = cache_.size();
  return s;
}

}  // namespace vmstore::internal
