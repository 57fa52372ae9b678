// fsck and scrub: verify every reachable block, and the pool's structure.
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "engine/pool_impl.h"
#include "util/coding.h"

namespace vmstore::internal {

Status PoolImpl::VerifyRefcounts() {
  MutexLock w(&writer_mu_);
  RETURN_IF_ERROR(WaitCheckpointLocked());
  auto locks = LockAllVolumes();
  RetryDeferredUnrefs();
  RefTable fresh = NewRefTable();
  std::set<uint64_t> damaged_nodes;
  std::map<VolumeId, std::string> damaged;
  RebuildRefs(&fresh, nullptr, &damaged_nodes, &damaged);
  for (const auto& [id, why] : damaged) {
    if (vols_.at(id)->damaged.empty()) return Corruption("volume " + std::to_string(id) + ": " + why);
  }
  std::string d = refs_.Diff(fresh);
  if (!d.empty()) return Internal("reference counts differ from a fresh walk: " + d);
  return Status::OK();
}

Status PoolImpl::Check(bool structure, CheckReport* report) {
  MutexLock w(&writer_mu_);
  auto locks = LockAllVolumes();
  RETURN_IF_ERROR(CheckpointNowLocked());
  cache_.Clear();  // verify what is on disk, not what is cached
  const uint32_t C = sb_.cluster_size;
  std::unordered_set<uint64_t> seen;
  std::unordered_map<uint64_t, uint64_t> data_csums;  // data block -> the checksum its pointers carry
  std::string buf(C, '\0');
  std::vector<uint64_t> sums(C / kUnit);
  // Each unit against its own sum too: a read of part of a block checks
  // those, so a damaged sum fails reads although the block's checksum holds.
  auto check_sums = [&](VolumeId id, uint64_t addr, uint32_t units, const char* data) {
    Status s = store_->ReadSums(addr, units, sums.data());
    for (uint32_t u = 0; s.ok() && u < units; ++u) {
      if (Hash64(data + size_t{u} * kUnit, kUnit) != sums[u]) {
        s = Corruption("unit " + std::to_string(u) + " of the block at " + std::to_string(addr) +
                       " does not match its unit checksum (the unit checksum area is damaged)");
      }
    }
    if (!s.ok()) report->errors.push_back("volume " + std::to_string(id) + ": " + s.message());
  };
  report->volumes = vols_.size();
  std::function<void(VolumeId, const BlockPtr&, int)> visit = [&](VolumeId id, const BlockPtr& p, int level) {
    writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
    if (!IsReal(p.addr) || !seen.insert(p.addr).second) return;
    if (level < 0) {
      Status s = ReadBlock(p, 0, C, buf.data());
      if (!s.ok()) {
        report->errors.push_back("volume " + std::to_string(id) + ": " + s.message());
        return;
      }
      check_sums(id, p.addr, C / kUnit, buf.data());
      ++report->data_blocks;
      report->bytes_verified += C;
      if (dedup_) data_csums[p.addr] = p.csum;
      return;
    }
    auto node = LoadNode(p, nullptr);
    if (!node.ok()) {
      report->errors.push_back("volume " + std::to_string(id) + ": " + node.status().message());
      return;
    }
    if (Status s = store_->ReadUnits(p.addr, 1, buf.data()); s.ok()) {
      check_sums(id, p.addr, 1, buf.data());
    } else {
      report->errors.push_back("volume " + std::to_string(id) + ": " + s.message());
    }
    ++report->nodes;
    report->bytes_verified += kUnit;
    for (const BlockPtr& c : (*node)->e) visit(id, c, level - 1);
  };
  for (auto& [id, st] : vols_) visit(id, st->rec.root, static_cast<int>(st->rec.height) - 1);
  if (dedup_) RETURN_IF_ERROR(CheckDedup(data_csums, report));
  // Every container's header, in a scrub too.
  ASSIGN_OR_RETURN(auto containers, store_->List());
  for (uint64_t c : containers) {
    Status s = store_->CheckHeader(c);
    if (!s.ok()) report->errors.push_back(s.message());
  }
  if (!structure) return Status::OK();

  for (auto& p : open_problems_) report->errors.push_back(p);
  if (!deferred_unrefs_.empty()) {
    report->errors.push_back(std::to_string(deferred_unrefs_.size()) +
                             " index node(s) released by deletes could not be read; their blocks stay allocated");
  }
  RefTable fresh = NewRefTable();
  std::set<uint64_t> damaged_nodes;
  std::map<VolumeId, std::string> damaged;
  RebuildRefs(&fresh, &report->errors, &damaged_nodes, &damaged);
  for (const auto& [id, why] : damaged) {
    const std::string e = "volume " + std::to_string(id) + ": " + why;
    std::erase(report->errors, e);  // the walk above named it too: once is enough
    report->errors.push_back(e +
                             " (its reads and writes fail; what the node held is lost unless a snapshot or a "
                             "backup has it)");
  }
  if (std::string d = refs_.Diff(fresh); !d.empty()) report->errors.push_back("reference counts: " + d);
  ASSIGN_OR_RETURN(auto slots, ReadSuperblockSlots());
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].ok()) {
      report->errors.push_back("superblock copy " + std::to_string(i) + ": " + slots[i].status().message() +
                               " (the other copy is in use; the next checkpoint rewrites both)");
    }
  }
  uint64_t garbage = 0;
  Status s = ReclaimGarbage(&garbage, false);
  if (!s.ok()) report->errors.push_back("scanning for unreferenced space: " + s.message());
  report->garbage_bytes = garbage;
  return Status::OK();
}

}  // namespace vmstore::internal
