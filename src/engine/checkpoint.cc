// The checkpoint: turns the dirty generation into a committed one, in two
// halves (pool_impl.h, CHECKPOINT): the freeze under the locks, CPU only, and
// the I/O on a background thread: frozen log sync -> undo records -> new blocks
// -> sync -> in-place unit patches -> sync -> superblock -> sync -> frees ->
// old log reset.
#include <set>

#include "engine/pool_impl.h"
#include "util/coding.h"

namespace vmstore::internal {

StatusOr<uint64_t> PoolImpl::FinalizeNode(uint64_t addr, int level, std::unordered_map<uint64_t, uint64_t>* new_csums,
                                          std::unordered_map<uint64_t, uint64_t>* memo, std::vector<UnitWrite>* writes,
                                          std::vector<std::unique_ptr<char[]>>* bufs) {
  if (auto m = memo->find(addr); m != memo->end()) return m->second;
  std::shared_ptr<Node> held = dirty_nodes_.Get(addr);
  if (!held) return Internal("finalize: node " + Hex(addr) + " is not dirty");
  Node* node = held.get();
  for (BlockPtr& e : node->e) {
    if (!IsReal(e.addr)) continue;
    if (level == 0) {
      if (auto c = new_csums->find(e.addr); c != new_csums->end()) e.csum = c->second;
    } else if (dirty_nodes_.Contains(e.addr)) {
      ASSIGN_OR_RETURN(e.csum, FinalizeNode(e.addr, level - 1, new_csums, memo, writes, bufs));
    }
  }
  bufs->emplace_back(new char[kUnit + 8]);
  char* buf = bufs->back().get();
  node->EncodeTo(buf);
  uint64_t* sum = reinterpret_cast<uint64_t*>(buf + kUnit);
  uint64_t csum = ChecksumUnits(buf, 1, sum);
  writes->push_back({addr, buf, 1, sum});
  (*memo)[addr] = csum;
  return csum;
}

Status PoolImpl::Checkpoint() {
  MutexLock w(&writer_mu_);
  auto locks = LockAllVolumes();
  return CheckpointNowLocked();
}

bool PoolImpl::CheckpointRunning() const {
  MutexLock l(&ckpt_mu_);
  return ckpt_running_;
}

Status PoolImpl::WaitCheckpointLocked() {
  if (ckpt_thread_.joinable()) ckpt_thread_.join();
  if (!broken_.ok()) return broken_;
  std::unique_ptr<CheckpointJob> retry;
  Wal* log = nullptr;
  {
    MutexLock l(&ckpt_mu_);
    if (ckpt_status_.ok()) return Status::OK();
    // Only steps before the commit fail, and a failure keeps its job.
    retry = std::move(failed_job_);
    log = failed_log_;
    ckpt_running_ = true;
  }
  // The failed one again, here (writer_mu_ keeps everything else out): each
  // of its steps can be repeated, and nothing it would commit has changed.
  RunCheckpoint(std::move(retry), log);
  MutexLock l(&ckpt_mu_);
  return ckpt_status_;
}

Status PoolImpl::FrozenLogDurable() {
  {
    MutexLock l(&ckpt_mu_);
    while (!frozen_log_synced_ && ckpt_running_) ckpt_cv_.Wait(&ckpt_mu_);
    if (frozen_log_synced_) return Status::OK();
  }
  return WaitCheckpointLocked();  // its log sync failed: the retry syncs it first
}

Status PoolImpl::CheckpointNowLocked(uint64_t gen_step, bool rotate_log) {
  RETURN_IF_ERROR(FreezeLocked(gen_step, rotate_log));  // waits for one in flight first
  return WaitCheckpointLocked();
}

// What a freeze computes before it hands the generation over.
struct PoolImpl::FreezeState {
  std::unordered_map<uint64_t, uint64_t> new_csums;  // block -> its new checksum
  std::vector<std::pair<uint64_t, std::shared_ptr<FrozenData>>> data;
  std::vector<std::pair<uint64_t, std::shared_ptr<FrozenOverlay>>> overlays;
};

Status PoolImpl::FreezeLocked(uint64_t gen_step, bool rotate_log) {
  RETURN_IF_ERROR(WaitCheckpointLocked());
  RetryDeferredUnrefs();
  const bool dedup_pending = dedup_ && closing_ && dedup_->pending();
  if (dirty_nodes_.Empty() && dirty_data_.Empty() && overlays_.Empty() && !vtable_dirty_ && !sb_dirty_ &&
      !dedup_pending && pending_free_.empty() && wal_->bytes() == 0 && gen_step == 1) {
    return Status::OK();
  }
  auto job = std::make_unique<CheckpointJob>();
  job->rotate_log = rotate_log;
  FreezeState fs;
  RETURN_IF_ERROR(FreezeBlocks(job.get(), &fs));
  FreezeSuperblock(job.get(), gen_step, fs);
  FreezeFrees(job.get());
  // Hand the generation over: readers find it in the frozen maps from now on.
  dirty_nodes_.ForEach([&](uint64_t addr, const std::shared_ptr<Node>& n) { frozen_nodes_.Put(addr, n); });
  for (auto& [addr, fd] : fs.data) frozen_data_.Put(addr, std::move(fd));
  for (auto& [addr, fo] : fs.overlays) frozen_overlays_.Put(addr, std::move(fo));
  dirty_nodes_.Clear();
  dirty_data_.Clear();
  overlays_.Clear();
  dirty_bytes_ = 0;
  vtable_dirty_ = false;

  Wal* frozen_log = wal_.get();
  if (rotate_log) {
    std::swap(wal_, spare_wal_);  // the spare was reset for this generation
    frozen_log = spare_wal_.get();
  }
  {
    MutexLock l(&ckpt_mu_);
    ckpt_running_ = true;
    frozen_log_synced_ = !frozen_log->unsynced();
    ckpt_status_ = Status::OK();
  }
  ckpt_thread_ = std::thread(&PoolImpl::RunCheckpoint, this, std::move(job), frozen_log);
  return Status::OK();
}

Status PoolImpl::FreezeBlocks(CheckpointJob* job, FreezeState* fs) {
  const uint32_t cu = cluster_units();
  // Undo payloads: before-images of every unit about to be patched in place.
  std::vector<std::pair<uint64_t, std::shared_ptr<Overlay>>> overlays;  // patched in place
  overlays_.ForEach([&](uint64_t addr, const std::shared_ptr<Overlay>& ov) { overlays.emplace_back(addr, ov); });
  for (auto& [addr, ov] : overlays) {
    for (auto& [u, unit] : ov->units) {
      std::string p;
      AppendU64(&p, addr);
      AppendU64(&p, u);
      AppendU64(&p, unit.old_sum);
      p += unit.before;
      job->undo.push_back(std::move(p));
    }
  }

  // Checksums, bottom-up; the frozen maps keep every buffer the writes point at.
  dirty_data_.ForEach([&](uint64_t addr, const std::shared_ptr<std::string>& d) {
    auto fd = std::make_shared<FrozenData>();
    fd->data = d;
    fd->sums.resize(cu);
    fs->new_csums[addr] = ChecksumUnits(d->data(), cu, fd->sums.data());
    job->writes.push_back({addr, d->data(), cu, fd->sums.data()});
    fs->data.emplace_back(addr, std::move(fd));
  });
  for (auto& [addr, ov] : overlays) {
    auto fo = std::make_shared<FrozenOverlay>();
    fo->overlay = ov;
    fo->sums_after = ov->sums;
    for (auto& [u, unit] : ov->units) {
      fo->sums_after[u] = Hash64(unit.after.data(), kUnit);
      job->patches.push_back({addr + u, unit.after.data(), 1, &fo->sums_after[u]});
    }
    fs->new_csums[addr] = BlockChecksum(fo->sums_after.data(), cu);
    fs->overlays.emplace_back(addr, std::move(fo));
  }
  std::unordered_map<uint64_t, uint64_t> memo;
  for (auto& [id, st] : vols_) {
    VolumeRecord& v = st->rec;
    if (IsReal(v.root.addr) && dirty_nodes_.Contains(v.root.addr)) {
      ASSIGN_OR_RETURN(v.root.csum, FinalizeNode(v.root.addr, static_cast<int>(v.height) - 1, &fs->new_csums, &memo,
                                                 &job->writes, &job->bufs));
    }
  }
  if (memo.size() != dirty_nodes_.Size()) {
    return Internal("checkpoint: " + std::to_string(dirty_nodes_.Size() - memo.size()) +
                    " dirty index nodes are unreachable");
  }

  return Status::OK();
}

void PoolImpl::FreezeSuperblock(CheckpointJob* job, uint64_t gen_step, const FreezeState& fs) {
  // The volume table, as a new block.
  std::vector<VolumeRecord> recs;
  for (auto& [id, st] : vols_) recs.push_back(st->rec);
  job->vtable = EncodeVolumeTable(recs);
  uint32_t vt_units = static_cast<uint32_t>(job->vtable.size() / kUnit);
  uint64_t vt_addr = AllocateAddr(vt_units);
  refs_.Incr(vt_addr, vt_units);
  job->vtable_sums.resize(vt_units);
  uint64_t vt_csum = ChecksumUnits(job->vtable.data(), vt_units, job->vtable_sums.data());
  job->writes.push_back({vt_addr, job->vtable.data(), vt_units, job->vtable_sums.data()});

  job->next = sb_;
  job->next.format_version = kFormatVersion;
  job->next.generation = sb_.generation + gen_step;
  job->next.cursor = cursor_;
  job->next.next_volume_id = next_id_;
  job->next.vtable = {vt_addr, vt_csum};
  job->next.vtable_units = vt_units;

  // The manifests of the blocks written this generation, with their checksums.
  if (dedup_) {
    job->dedup = dedup_.get();
    job->dedup_batch = dedup_->Freeze(
        job->next.generation,
        [&](uint64_t addr) -> std::optional<uint64_t> {
          auto c = fs.new_csums.find(addr);
          if (c == fs.new_csums.end()) return std::nullopt;
          return c->second;
        },
        /*seal_all=*/closing_ || sb_dirty_);
  }
  sb_dirty_ = false;
}

void PoolImpl::FreezeFrees(CheckpointJob* job) {
  // The old volume table and every block freed this generation go once the
  // new superblock is down; containers left without a live block with them
  // (nothing is ever allocated below the cursor's container again).
  if (IsReal(sb_.vtable.addr)) {
    refs_.Decr(sb_.vtable.addr, sb_.vtable_units);
    pending_free_.emplace_back(sb_.vtable.addr, sb_.vtable_units);
  }
  std::set<uint64_t> touched;
  for (auto& [addr, units] : pending_free_) touched.insert(ContainerOf(addr));
  for (uint64_t c : touched) {
    if (c < ContainerOf(cursor_) && refs_.LiveUnitsIn(c) == 0) job->empty_containers.push_back(c);
  }
  // Sum pages left describing only freed units go with them (else a container
  // that keeps a few live blocks keeps its whole sum area: 128 KiB per 64 MiB).
  std::set<std::pair<uint64_t, uint64_t>> pages;
  for (auto& [addr, units] : pending_free_) {
    for (uint64_t p = IndexOf(addr) / kSumsPerPage; p <= (IndexOf(addr) + units - 1) / kSumsPerPage; ++p) {
      pages.emplace(ContainerOf(addr), p);
    }
  }
  for (auto& [c, p] : pages) {
    if (SumPageFree(c, p)) job->sum_pages.emplace_back(c, p);
  }
  job->frees = std::move(pending_free_);
  pending_free_.clear();
}

void PoolImpl::RunCheckpoint(std::unique_ptr<CheckpointJob> job, Wal* log) {
  // A failure (only steps before the commit can fail) keeps the job for
  // WaitCheckpointLocked to run again. Until then the frozen log counts as
  // not durable if its sync is what failed.
  auto fail = [&](const Status& s) {
    MutexLock l(&ckpt_mu_);
    ckpt_status_ = s.WithContext("checkpoint (tried again at the next one)");
    ckpt_running_ = false;
    failed_job_ = std::move(job);
    failed_log_ = log;
    ckpt_cv_.NotifyAll();
  };
  // 1. The frozen log's redo records: durable before the live log may be
  // written. Not if one of its syncs ever failed (Wal::sync_failed): then the
  // live log waits for the commit, which makes the frozen records moot.
  Status s = log->Sync();
  if (!s.ok()) return fail(s);
  if (!log->sync_failed()) {
    MutexLock l(&ckpt_mu_);
    frozen_log_synced_ = true;
    ckpt_cv_.NotifyAll();
  }
  // 2. Undo records: the committed content of every unit about to be patched
  // (appended once; a failed sync keeps them in the buffer for the next).
  if (!job->undo_logged) {
    for (const std::string& u : job->undo) log->Append(WalType::kUndo, u);
    job->undo_logged = true;
  }
  if (!job->undo.empty()) s = log->Sync();
  // 3. New blocks first; nothing committed refers to them yet. Then the
  // in-place patches: from there a failure leaves the containers differing
  // from the committed state until the logs are replayed (or this job is
  // run again; the readers use the frozen maps meanwhile).
  if (s.ok()) s = store_->WriteBlocks(job->writes);
  if (s.ok()) s = store_->SyncTouched();
  // The generation's dedup manifests, which describe those blocks (a batch of
  // a generation that never commits is cut off at the next open).
  if (s.ok() && !job->dedup_batch.bytes.empty()) s = job->dedup->WriteBatch(job->dedup_batch);
  if (s.ok() && !job->patches.empty()) {
    s = store_->WriteBlocks(job->patches);
    if (s.ok()) s = store_->SyncTouched();
  }
  // 4. Commit. Both slots get the new generation, one after the other, each
  // synced: a write torn by a crash leaves the other slot intact, and later
  // damage to one copy leaves a twin of the same generation.
  if (s.ok()) {
    char slot[Superblock::kSlotSize];
    job->next.EncodeTo(slot);
    auto f = env_->OpenFile(dir_ + "/superblock", false);
    s = f.status();
    for (uint64_t k = 0; k < 2 && s.ok(); ++k) {
      s = WriteAtRetrying(f->get(), ((job->next.generation + k) % 2) * Superblock::kSlotSize, slot, sizeof slot);
      if (s.ok()) s = (*f)->Sync();
    }
  }
  if (!s.ok()) return fail(s);
  // Only the fields a checkpoint changes: readers use the geometry meanwhile.
  sb_.generation = job->next.generation;
  sb_.cursor = job->next.cursor;
  sb_.next_volume_id = job->next.next_volume_id;
  sb_.vtable = job->next.vtable;
  sb_.vtable_units = job->next.vtable_units;

  // 5. Reclaim what the old generation freed (a failure only leaves garbage,
  // which the next open punches), then drop the frozen maps: the containers
  // hold all of it now.
  for (auto& [addr, units] : job->frees) (void)store_->Punch(addr, units);
  for (auto& [c, p] : job->sum_pages) (void)store_->PunchSums(c, p);
  for (uint64_t c : job->empty_containers) (void)store_->DeleteContainer(c);
  frozen_nodes_.ForEach([&](uint64_t addr, const std::shared_ptr<Node>& node) { cache_.Put(addr, node); });
  frozen_nodes_.Clear();
  frozen_data_.Clear();
  frozen_overlays_.Clear();
  // The old log becomes the spare, for the generation after the new one.
  // A failed truncate only leaves the space (the old records are ignored).
  if (job->rotate_log) (void)log->Reset(job->next.generation + 1);
  MutexLock l(&ckpt_mu_);
  ckpt_status_ = Status::OK();
  ckpt_running_ = false;
  frozen_log_synced_ = true;  // committed: the frozen records are moot
  ckpt_cv_.NotifyAll();
}

}  // namespace vmstore::internal
