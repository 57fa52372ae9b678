// Reading and writing volume data.
#include <cstring>
#include <mutex>

#include "engine/pool_impl.h"
#include "util/coding.h"

namespace vmstore::internal {

namespace {
// Splits [offset, offset+length) into per-cluster pieces.
template <typename Fn>
// Calls fn per cluster piece; *applied (if given) ends as the bytes of the
// pieces that succeeded before the first failure.
Status ForEachCluster(uint64_t offset, uint64_t length, uint32_t cluster, Fn fn, uint64_t* applied = nullptr) {
  uint64_t done = 0;
  Status s;
  while (done < length && s.ok()) {
    uint64_t pos = offset + done;
    uint64_t ci = pos / cluster;
    uint32_t o = static_cast<uint32_t>(pos % cluster);
    uint32_t l = static_cast<uint32_t>(std::min<uint64_t>(cluster - o, length - done));
    s = fn(ci, o, l, done);
    if (s.ok()) done += l;
  }
  if (applied) *applied = done;
  return s;
}
}  // namespace

Status PoolImpl::CommittedUnits(const BlockPtr& p, uint32_t u0, uint32_t u1, char* dst,
                                std::vector<uint64_t>* sums) const {
  const uint32_t cu = cluster_units();
  if (auto fd = frozen_data_.Get(p.addr)) {
    std::memcpy(dst, fd->data->data() + size_t{u0} * kUnit, size_t{u1 - u0} * kUnit);
    if (sums) *sums = fd->sums;
    return Status::OK();
  }
  RETURN_IF_ERROR(CheckAddr(p.addr, cu));
  std::shared_ptr<const FrozenOverlay> fo = frozen_overlays_.Get(p.addr);
  const bool whole = u0 == 0 && u1 == cu && !sums;  // checked by its own units' sums
  std::vector<uint64_t> local;
  std::vector<uint64_t>& s = sums ? *sums : local;
  if (fo || whole) {
    RETURN_IF_ERROR(store_->ReadUnits(p.addr + u0, u1 - u0, dst));
  } else {
    s.resize(cu);  // the units and the block's sums in one call (one round trip to a node)
    RETURN_IF_ERROR(store_->ReadPartOfBlock(p.addr, cu, u0, u1, dst, s.data()));
  }
  auto damaged = [&](uint32_t u) {
    return Corruption("data block " + Hex(p.addr) + " unit " + std::to_string(u) + ": checksum mismatch");
  };
  if (fo) {
    // An in-flight checkpoint may be patching the block: the units it patches
    // come from memory, the others are checked against the sums the overlay
    // started from (which the parent's checksum no longer describes).
    const Overlay& ov = *fo->overlay;
    for (uint32_t u = u0; u < u1; ++u) {
      char* unit = dst + size_t{u - u0} * kUnit;
      if (auto it = ov.units.find(u); it != ov.units.end()) {
        std::memcpy(unit, it->second.after.data(), kUnit);
      } else if (Hash64(unit, kUnit) != ov.sums[u]) {
        return damaged(u);
      }
    }
    if (sums) *sums = fo->sums_after;
    return Status::OK();
  }
  if (whole) {
    std::vector<uint64_t> unit_sums(cu);
    if (ChecksumUnits(dst, cu, unit_sums.data()) != p.csum) {
      return Corruption("data block " + Hex(p.addr) + ": checksum mismatch");
    }
    return Status::OK();
  }
  if (BlockChecksum(s.data(), cu) != p.csum) {
    return Corruption("data block " + Hex(p.addr) + ": unit checksums damaged");
  }
  for (uint32_t u = u0; u < u1; ++u) {
    if (Hash64(dst + size_t{u - u0} * kUnit, kUnit) != s[u]) return damaged(u);
  }
  return Status::OK();
}

Status PoolImpl::ReadBlock(const BlockPtr& p, uint32_t offset, uint32_t length, char* dst) const {
  if (!IsReal(p.addr)) {
    std::memset(dst, 0, length);
    return Status::OK();
  }
  if (auto d = dirty_data_.Get(p.addr)) {
    std::memcpy(dst, d->data() + offset, length);
    return Status::OK();
  }
  uint32_t u0 = offset / kUnit, u1 = (offset + length - 1) / kUnit + 1;
  std::unique_ptr<char[]> buf(new char[size_t{u1 - u0} * kUnit]);
  RETURN_IF_ERROR(CommittedUnits(p, u0, u1, buf.get(), nullptr));
  if (auto ov = overlays_.Get(p.addr)) {
    for (auto& [u, unit] : ov->units) {
      if (u >= u0 && u < u1) std::memcpy(buf.get() + size_t{u - u0} * kUnit, unit.after.data(), kUnit);
    }
  }
  std::memcpy(dst, buf.get() + (offset - u0 * kUnit), length);
  return Status::OK();
}

Status PoolImpl::WriteCluster(VolumeRecord* v, uint64_t cluster, uint32_t o, const char* data, uint32_t l,
                              const ClusterPrint* print) {
  const uint32_t C = sb_.cluster_size;
  const bool zero = IsAllZero(data, l);
  if (zero) {
    ASSIGN_OR_RETURN(BlockPtr cur, Lookup(*v, cluster, nullptr));
    if (!IsReal(cur.addr)) return Status::OK();  // already reads as zero
  }
  ASSIGN_OR_RETURN(auto leaf, LeafForWrite(v, cluster));
  BlockPtr& e = leaf.first->e[leaf.second];
  if (o == 0 && l == C) {
    BlockPtr old = e;
    // A hit on `old` takes its reference first.
    e = zero ? BlockPtr{kZeroAddr, 0} : StoreCluster(v->id, std::string(data, l), print);
    return Unref(old, -1);
  }
  if (!IsReal(e.addr)) {
    std::string buf(C, '\0');
    std::memcpy(buf.data() + o, data, l);
    e = StoreCluster(v->id, std::move(buf), nullptr);
    return Status::OK();
  }
  // Blocks of a deduplicating pool are never changed in place: the index may
  // point at them. Nor are shared ones.
  const bool copy = refs_.Get(e.addr) > 1 || dedup_mode_.load(std::memory_order_relaxed) != DedupMode::kOff;
  if (auto d = dirty_data_.Get(e.addr); d && !copy) {
    std::memcpy(d->data() + o, data, l);
    return Status::OK();
  }
  if (copy) {
    std::string buf(C, '\0');
    RETURN_IF_ERROR(ReadBlock(e, 0, C, buf.data()));
    std::memcpy(buf.data() + o, data, l);
    BlockPtr old = e;
    e = StoreCluster(v->id, std::move(buf), nullptr);
    return Unref(old, -1);
  }
  // Private committed (or frozen) block: patch only the units touched (an overlay).
  uint32_t u0 = o / kUnit, u1 = (o + l - 1) / kUnit + 1;
  std::shared_ptr<Overlay> ovp = overlays_.Get(e.addr);
  bool missing = !ovp;
  for (uint32_t u = u0; u < u1 && !missing; ++u) missing = !ovp->units.count(u);
  if (missing) {
    std::vector<uint64_t> sums;
    std::string before(size_t{u1 - u0} * kUnit, '\0');
    RETURN_IF_ERROR(CommittedUnits(e, u0, u1, before.data(), &sums));
    if (!ovp) {
      ovp = std::make_shared<Overlay>();
      ovp->sums = sums;
      overlays_.Put(e.addr, ovp);
    }
    for (uint32_t u = u0; u < u1; ++u) {
      if (ovp->units.count(u)) continue;
      OverlayUnit unit;
      unit.before = before.substr(size_t{u - u0} * kUnit, kUnit);
      unit.after = unit.before;
      unit.old_sum = sums[u];
      ovp->units.emplace(u, std::move(unit));
      dirty_bytes_ += 2 * kUnit;
    }
  }
  for (uint32_t u = u0; u < u1; ++u) {
    uint32_t a = std::max(o, u * kUnit), b = std::min(o + l, (u + 1) * kUnit);
    std::memcpy(ovp->units[u].after.data() + (a - u * kUnit), data + (a - o), b - a);
  }
  return Status::OK();
}

Status PoolImpl::DoWrite(VolumeRecord* v, uint64_t offset, const char* data, uint64_t length, uint64_t* applied,
                         const std::vector<ClusterPrint>* prints) {
  const uint64_t first = offset / sb_.cluster_size;
  const bool have = prints && !prints->empty();  // StoreCluster ignores them once dedup is off
  return ForEachCluster(
      offset, length, sb_.cluster_size,
      [&](uint64_t ci, uint32_t o, uint32_t l, uint64_t done) {
        writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
        const ClusterPrint* print = have && l == sb_.cluster_size ? &(*prints)[ci - first] : nullptr;
        return WriteCluster(v, ci, o, data + done, l, print);
      },
      applied);
}

Status PoolImpl::DoDiscard(VolumeRecord* v, uint64_t offset, uint64_t length, Discard mode, uint64_t* applied) {
  const uint32_t C = sb_.cluster_size;
  std::string zeros;
  return ForEachCluster(
      offset, length, C,
      [&](uint64_t ci, uint32_t o, uint32_t l, uint64_t) -> Status {
        writer_mu_.AssertHeld();  // the lambda runs under the caller's lock
        ASSIGN_OR_RETURN(BlockPtr cur, Lookup(*v, ci, nullptr));
        if (l == C) {
          uint64_t target = mode == Discard::kZeroAlloc ? kZeroAddr : kHoleAddr;
          if (cur.addr == target) return Status::OK();
          ASSIGN_OR_RETURN(auto leaf, LeafForWrite(v, ci));
          BlockPtr old = leaf.first->e[leaf.second];
          leaf.first->e[leaf.second] = {target, 0};
          return Unref(old, -1);
        }
        if (!IsReal(cur.addr)) return Status::OK();
        if (zeros.size() < l) zeros.assign(C, '\0');
        return WriteCluster(v, ci, o, zeros.data(), l, nullptr);
      },
      applied);
}

Status PoolImpl::Read(VolumeId id, uint64_t offset, std::span<char> buf, ReadStats* stats) {
  ASSIGN_OR_RETURN(auto state, FindForRead(id));
  std::shared_lock<SharedMutex> l(state->mu);
  const VolumeRecord* v = &state->rec;
  RETURN_IF_ERROR(CheckRange(*v, offset, buf.size()));
  return ForEachCluster(
      offset, buf.size(), sb_.cluster_size, [&](uint64_t ci, uint32_t o, uint32_t n, uint64_t done) -> Status {
        ASSIGN_OR_RETURN(BlockPtr p, Lookup(*v, ci, stats));
        Status s = ReadBlock(p, o, n, buf.data() + done);
        return s.ok() ? s : s.WithContext("volume " + std::to_string(id) + " offset " + std::to_string(offset + done));
      });
}

StatusOr<std::vector<Extent>> PoolImpl::Map(VolumeId id, uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(auto state, FindForRead(id));
  std::shared_lock<SharedMutex> l(state->mu);
  const VolumeRecord* v = &state->rec;
  RETURN_IF_ERROR(CheckRange(*v, offset, length));
  std::vector<Extent> out;
  if (length == 0) return out;
  const uint64_t C = sb_.cluster_size, end = offset + length;
  auto add = [&](uint64_t a, uint64_t b, ExtentType t) {
    a = std::max(a, offset);
    b = std::min(b, end);
    if (a < b) AppendExtent(&out, a, b - a, t);
  };
  RETURN_IF_ERROR(WalkLeaves(v->root, static_cast<int>(v->height) - 1, 0, offset / C, (end + C - 1) / C,
                             [&](uint64_t first, uint64_t count, const BlockPtr& p) {
                               ExtentType t = p.addr == kHoleAddr   ? ExtentType::kHole
                                              : p.addr == kZeroAddr ? ExtentType::kZero
                                                                    : ExtentType::kData;
                               add(first * C, (first + count) * C, t);
                               return Status::OK();
                             }));
  return out;
}

}  // namespace vmstore::internal
