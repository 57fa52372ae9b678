// Space admission: new data is refused with kNoSpace before the pool's file
// system fills, so that trims, deletes, snapshots, checkpoints and the catalog
// always find room to record the changes that give space back.
#include <algorithm>

#include "engine/pool_impl.h"

namespace vmstore::internal {

namespace {

constexpr uint64_t kDefaultReserve = 64ull << 20;
// Free space read is trusted for this long, minus what was admitted since.
constexpr int64_t kSpaceReadInterval = 10'000'000;  // 10 ms
// A log this long is worth a checkpoint when space is short (it is dropped after).
constexpr uint64_t kLogWorthReclaiming = 1 << 20;

std::string MiB(uint64_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MiB"; }

}  // namespace

Status PoolImpl::RefreshSpace() {
  ASSIGN_OR_RETURN(FsSpace fs, env_->FileSystemSpace(dir_));
  if (reserve_ == 0) {
    reserve_ = opts_.space_reserve_bytes ? opts_.space_reserve_bytes : std::min(kDefaultReserve, fs.total / 10);
  }
  space_free_ = fs.available;
  space_read_ns_ = env_->NowNanos();
  space_admitted_ = 0;
  return Status::OK();
}

Status PoolImpl::AdmitSpace(uint64_t bytes) {
  if (replaying_) return Status::OK();
  if (opts_.container_span != 0) {
    // In a shared container space the pool owns containers [1, span): the
    // dirty data and this write must fit below the end, as a bound.
    const uint64_t need = (dirty_bytes_ + 2 * bytes) / (uint64_t{sb_.container_units} * kUnit) + 2;
    if (ContainerOf(cursor_.load()) + need >= opts_.container_span) {
      return NoSpace("the pool has used its share of the cluster's container space (" +
                     std::to_string(opts_.container_span) + " containers); delete snapshots or disks");
    }
  }
  // The data goes to the log now and to a container at the checkpoint; the
  // dirty data already admitted still has to reach its container too.
  const uint64_t cost = 2 * bytes;
  auto fits = [&] {
    writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
    return space_free_ >= space_admitted_ + cost + dirty_bytes_ + reserve_;
  };
  if (reserve_ != 0 && env_->NowNanos() - space_read_ns_ < kSpaceReadInterval && fits()) {
    space_admitted_ += cost;
    return Status::OK();
  }
  RETURN_IF_ERROR(RefreshSpace());
  if (!fits() && (!pending_free_.empty() || wal_->bytes() >= kLogWorthReclaiming || dirty_bytes_ > 0)) {
    auto locks = LockAllVolumes();
    RETURN_IF_ERROR(CheckpointNowLocked());
    RETURN_IF_ERROR(RefreshSpace());
  }
  if (!fits()) {
    return NoSpace("the pool's file system is full: " + MiB(space_free_) + " free, " + MiB(reserve_) +
                   " of it kept for trims, deletes and snapshots; delete snapshots or trim to make room");
  }
  space_admitted_ += cost;
  return Status::OK();
}

}  // namespace vmstore::internal
