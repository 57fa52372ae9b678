// The pool's deduplication: its mode, storing a cluster's content (a new
// block or one more reference to an existing one), and checking the index.
// docs/ARCHITECTURE.md, "Deduplication", has the design.
#include <mutex>

#include "engine/pool_impl.h"
#include "util/coding.h"

namespace vmstore::internal {

ClusterPrint PoolImpl::PrintCluster(const char* data) const {
  ClusterPrint p;
  p.fp = Sha256(data, sb_.cluster_size);
  std::vector<uint64_t> sums(cluster_units());
  p.csum = ChecksumUnits(data, cluster_units(), sums.data());
  return p;
}

BlockPtr PoolImpl::StoreCluster(VolumeId stream, std::string content, const ClusterPrint* print) {
  const DedupMode mode = dedup_mode_.load(std::memory_order_relaxed);
  if (IsAllZero(content.data(), content.size())) return {kZeroAddr, 0};
  if (mode == DedupMode::kOff || !dedup_) return NewDataBlock(std::move(content));
  const ClusterPrint pr = print ? *print : PrintCluster(content.data());
  if (const DedupEntry* c = dedup_->Find(pr.fp); c && IsReal(c->addr) && refs_.Get(c->addr) > 0) {
    const BlockPtr p{c->addr, c->csum};
    bool same;
    if (mode == DedupMode::kVerify) {
      std::string stored(content.size(), '\0');
      same = ReadBlock(p, 0, sb_.cluster_size, stored.data()).ok() && stored == content;
    } else {
      // A second, independent hash: the block checksum the pointer carries
      // (0 while the block is not checkpointed: it is in memory, found this run).
      same = p.csum == 0 || p.csum == pr.csum;
    }
    if (same) {
      refs_.Incr(p.addr);
      ++dedup_hits_;
      dedup_->Record(stream, pr.fp, p.addr, p.csum);
      return p;
    }
    ++dedup_verify_mismatches_;
  }
  BlockPtr p = NewDataBlock(std::move(content));
  dedup_->Record(stream, pr.fp, p.addr, 0);
  return p;
}

std::vector<ClusterPrint> PoolImpl::FingerprintWrite(uint64_t offset, std::span<const char> data) const {
  std::vector<ClusterPrint> prints;
  if (dedup_mode_.load(std::memory_order_relaxed) == DedupMode::kOff || data.empty()) return prints;
  const uint64_t C = sb_.cluster_size, first = offset / C, end = offset + data.size();
  prints.resize((end - 1) / C - first + 1);
  for (uint64_t ci = (offset + C - 1) / C; (ci + 1) * C <= end; ++ci) {
    const char* p = data.data() + (ci * C - offset);
    if (!IsAllZero(p, C)) prints[ci - first] = PrintCluster(p);
  }
  return prints;
}

std::unique_ptr<DedupIndex> PoolImpl::NewDedupIndex() const {
  DedupIndex::Options o;
  o.hook_bits = opts_.dedup_hook_bits;
  o.cache_manifests = opts_.dedup_cache_manifests;
  return std::make_unique<DedupIndex>(env_, DedupPath(), o);
}

Status PoolImpl::OpenDedup() {
  if (sb_.dedup == static_cast<uint32_t>(DedupMode::kOff)) {
    dedup_.reset();
    dedup_mode_ = DedupMode::kOff;
    // Left by a SetDedup(kOff) that committed but did not remove it.
    if (env_->FileExists(DedupPath())) RETURN_IF_ERROR(env_->DeleteFile(DedupPath()));
    return Status::OK();
  }
  dedup_ = NewDedupIndex();
  RETURN_IF_ERROR(dedup_->Load(sb_.generation).WithContext("opening the deduplication index"));
  dedup_mode_ = static_cast<DedupMode>(sb_.dedup);
  return Status::OK();
}

Status PoolImpl::SetDedup(DedupMode mode) {
  if (static_cast<uint32_t>(mode) > 2) return InvalidArgument("unknown deduplication mode");
  MutexLock w(&writer_mu_);
  auto locks = LockAllVolumes();
  if (!broken_.ok()) return broken_;
  if (dedup_mode_.load() == mode) return Status::OK();
  RETURN_IF_ERROR(WaitCheckpointLocked());  // its batch write is done with the index
  if (mode == DedupMode::kOff) {
    dedup_.reset();
  } else if (!dedup_) {
    auto index = NewDedupIndex();
    RETURN_IF_ERROR(index->Reset());  // a new index, whatever an old one left
    dedup_ = std::move(index);
  }
  // Effective at once in memory; on disk with the checkpoint's superblock.
  // Until then a crash reopens the old mode, consistent with the old index:
  // blocks are changed in place only by a checkpoint, which commits the new
  // mode with them.
  dedup_mode_ = mode;
  sb_.dedup = static_cast<uint32_t>(mode);
  sb_dirty_ = true;
  RETURN_IF_ERROR(CheckpointNowLocked());
  if (mode == DedupMode::kOff && env_->FileExists(DedupPath())) {
    (void)env_->DeleteFile(DedupPath());  // else the next open removes it
  }
  return Status::OK();
}

Status PoolImpl::CheckDedup(const std::unordered_map<uint64_t, uint64_t>& data_csums, CheckReport* report) {
  uint64_t wrong = 0;
  std::string first;
  Status s = dedup_->ForEachManifest(
      [&](const Manifest& m) {
        writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
        for (const DedupEntry& e : m.entries) {
          if (!IsReal(e.addr) || refs_.Get(e.addr) == 0) continue;  // a dead block: never shared again
          auto it = data_csums.find(e.addr);
          if (it != data_csums.end() && it->second == e.csum) continue;
          if (wrong++ == 0) {
            first = "block " + Hex(e.addr) + " (manifest at " + std::to_string(m.offset) + ") " +
                    (it == data_csums.end() ? "is not a data block" : "has another checksum");
          }
        }
        return Status::OK();
      },
      &report->errors);
  RETURN_IF_ERROR(s);
  if (wrong > 0) {
    report->errors.push_back("dedup index: " + std::to_string(wrong) + " entries do not describe their block, e.g. " +
                             first + " (such a candidate is refused; `vmstore sr set SR --dedup off` drops the index)");
  }
  return Status::OK();
}

}  // namespace vmstore::internal

namespace vmstore {

const char* DedupModeName(DedupMode mode) {
  switch (mode) {
    case DedupMode::kOff:
      return "off";
    case DedupMode::kOn:
      return "on";
    case DedupMode::kVerify:
      return "verify";
  }
  return "?";
}

StatusOr<DedupMode> ParseDedupMode(const std::string& name) {
  for (DedupMode m : {DedupMode::kOff, DedupMode::kOn, DedupMode::kVerify}) {
    if (name == DedupModeName(m)) return m;
  }
  return InvalidArgument("deduplication mode '" + name + "' is not one of off, on, verify");
}

}  // namespace vmstore
