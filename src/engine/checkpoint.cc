// The checkpoint: turns the dirty generation into a committed one.
// Order (see pool_impl.h): undo records -> checksums -> new blocks -> sync ->
// in-place unit patches -> sync -> superblock -> sync -> log reset -> frees.
#include <mutex>
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
  std::lock_guard<std::mutex> w(writer_mu_);
  auto locks = LockAllVolumes();
  return CheckpointLocked();
}

Status PoolImpl::CheckpointLocked() {
  if (!broken_.ok()) return broken_;
  if (dirty_nodes_.Empty() && dirty_data_.Empty() && overlays_.Empty() && !vtable_dirty_ && pending_free_.empty() &&
      wal_->bytes() == 0) {
    return Status::OK();
  }
  const uint32_t cu = cluster_units();

  // 1. Before-images of every unit about to be patched in place.
  std::vector<std::pair<uint64_t, std::shared_ptr<Overlay>>> overlays;
  overlays_.ForEach([&](uint64_t addr, const std::shared_ptr<Overlay>& ov) { overlays.emplace_back(addr, ov); });
  for (auto& [addr, ov] : overlays) {
    for (auto& [u, unit] : *ov) {
      std::string p;
      AppendU64(&p, addr);
      AppendU64(&p, u);
      AppendU64(&p, unit.old_sum);
      p += unit.before;
      RETURN_IF_ERROR(wal_->Append(WalType::kUndo, p));
    }
  }
  RETURN_IF_ERROR(wal_->Sync());

  // 2. Checksums, bottom-up.
  std::unordered_map<uint64_t, uint64_t> new_csums;
  std::vector<UnitWrite> writes, patches;
  std::vector<std::unique_ptr<char[]>> bufs;
  dirty_data_.ForEach([&](uint64_t addr, const std::shared_ptr<std::string>& data) {
    bufs.emplace_back(new char[size_t{cu} * 8]);
    uint64_t* sums = reinterpret_cast<uint64_t*>(bufs.back().get());
    new_csums[addr] = ChecksumUnits(data->data(), cu, sums);
    writes.push_back({addr, data->data(), cu, sums});  // dirty_data_ keeps the buffer until the end
  });
  for (auto& [addr, ov] : overlays) {
    bufs.emplace_back(new char[size_t{cu} * 8]);
    uint64_t* sums = reinterpret_cast<uint64_t*>(bufs.back().get());
    RETURN_IF_ERROR(store_->ReadSums(addr, cu, sums));
    for (auto& [u, unit] : *ov) {
      sums[u] = Hash64(unit.after.data(), kUnit);
      patches.push_back({addr + u, unit.after.data(), 1, &sums[u]});
    }
    new_csums[addr] = BlockChecksum(sums, cu);
  }
  std::unordered_map<uint64_t, uint64_t> memo;
  for (auto& [id, st] : vols_) {
    VolumeRecord& v = st->rec;
    if (IsReal(v.root.addr) && dirty_nodes_.Contains(v.root.addr)) {
      ASSIGN_OR_RETURN(v.root.csum,
                       FinalizeNode(v.root.addr, static_cast<int>(v.height) - 1, &new_csums, &memo, &writes, &bufs));
    }
  }
  if (memo.size() != dirty_nodes_.Size()) {
    return Internal("checkpoint: " + std::to_string(dirty_nodes_.Size() - memo.size()) +
                    " dirty index nodes are unreachable");
  }

  // The volume table, as a new block.
  std::vector<VolumeRecord> recs;
  for (auto& [id, st] : vols_) recs.push_back(st->rec);
  std::string vt = EncodeVolumeTable(recs);
  uint32_t vt_units = static_cast<uint32_t>(vt.size() / kUnit);
  uint64_t vt_addr = AllocateAddr(vt_units);
  refs_.Incr(vt_addr, vt_units);
  std::vector<uint64_t> vt_sums(vt_units);
  uint64_t vt_csum = ChecksumUnits(vt.data(), vt_units, vt_sums.data());
  writes.push_back({vt_addr, vt.data(), vt_units, vt_sums.data()});

  Superblock next = sb_;
  next.generation = sb_.generation + 1;
  next.cursor = cursor_;
  next.next_volume_id = next_id_;
  next.vtable = {vt_addr, vt_csum};
  next.vtable_units = vt_units;

  // 3-4. New blocks first; nothing committed refers to them yet.
  Status s = store_->WriteBlocks(std::move(writes));
  if (s.ok()) s = store_->SyncTouched();
  if (!s.ok()) {
    refs_.Decr(vt_addr, vt_units);
    return s.WithContext("checkpoint");
  }
  // In-place patches of committed units: from here a failure leaves the
  // containers differing from the committed state until the log is replayed.
  auto fail = [&](const Status& st) {
    broken_ = Status(st.code(), "pool must be reopened after a failed checkpoint: " + st.message());
    return broken_;
  };
  if (!patches.empty()) {
    s = store_->WriteBlocks(std::move(patches));
    if (s.ok()) s = store_->SyncTouched();
    if (!s.ok()) return fail(s);
  }

  // 5. Commit.
  {
    char slot[Superblock::kSlotSize];
    next.EncodeTo(slot);
    // Both slots get the new generation, one after the other, each synced: a
    // write torn by a crash leaves the other slot intact, and later damage to
    // one copy leaves a twin of the same generation.
    auto f = env_->OpenFile(dir_ + "/superblock", false);
    s = f.status();
    for (uint64_t k = 0; k < 2 && s.ok(); ++k) {
      s = (*f)->WriteAt(((next.generation + k) % 2) * Superblock::kSlotSize, slot, sizeof slot);
      if (s.ok()) s = (*f)->Sync();
    }
    if (!s.ok()) return fail(s);
  }
  if (IsReal(sb_.vtable.addr)) {
    refs_.Decr(sb_.vtable.addr, sb_.vtable_units);
    pending_free_.emplace_back(sb_.vtable.addr, sb_.vtable_units);
  }
  sb_ = next;

  // 6. A fresh log for the new generation.
  s = wal_->Reset(sb_.generation);
  if (!s.ok()) return fail(s);

  // 7. Reclaim what the old generation freed. A failure only leaves garbage,
  // which the next open punches.
  std::set<uint64_t> touched;
  for (auto& [addr, units] : pending_free_) {
    (void)store_->Punch(addr, units);
    touched.insert(ContainerOf(addr));
  }
  pending_free_.clear();
  for (uint64_t c : touched) {
    if (c != ContainerOf(cursor_) && refs_.LiveUnitsIn(c) == 0) (void)store_->DeleteContainer(c);
  }

  dirty_nodes_.ForEach([&](uint64_t addr, const std::shared_ptr<Node>& node) { cache_.Put(addr, node); });
  dirty_nodes_.Clear();
  dirty_data_.Clear();
  overlays_.Clear();
  dirty_bytes_ = 0;
  vtable_dirty_ = false;
  return Status::OK();
}

}  // namespace vmstore::internal
