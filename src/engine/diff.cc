// Pool::Diff: the two trees walked side by side. Two pointers with the same
// address reach the same subtree (a block is changed in place only while its
// whole path from one root is private, so never while two roots reach it);
// those subtrees are skipped without being read.
#include <algorithm>
#include <mutex>

#include "engine/pool_impl.h"

namespace vmstore::internal {

namespace {

// Clusters under one entry of a node at `level` (level 0 entries are clusters).
uint64_t ChildSpan(int level) { return uint64_t{1} << (kFanoutBits * level); }

// Whether two pointers read the same: the same block, or both zeroes.
bool SameContent(const BlockPtr& a, const BlockPtr& b) {
  return a.addr == b.addr || (!IsReal(a.addr) && !IsReal(b.addr));
}

// The stretch walked under one hold of the locks.
constexpr uint64_t kStretchClusters = uint64_t{1} << 16;

}  // namespace

Status PoolImpl::DiffWalk(const DiffPos& a, const DiffPos& b, int level, uint64_t base, uint64_t lo, uint64_t hi,
                          const DiffFn& fn, uint64_t* nodes) const {
  uint64_t span = ChildSpan(level + 1);
  if (std::max(lo, base) >= std::min(hi, base + span)) return Status::OK();
  if (a.real_level == b.real_level && SameContent(a.p, b.p)) return Status::OK();
  if (!IsReal(a.p.addr) && !IsReal(b.p.addr)) return Status::OK();
  // The children of each side: a real node's entries, a virtual node's e[0]
  // chain, or holes under a hole.
  auto children = [&](const DiffPos& x, std::shared_ptr<const Node>* node) -> Status {
    if (x.real_level == level && IsReal(x.p.addr)) {
      ++*nodes;
      ASSIGN_OR_RETURN(*node, LoadNode(x.p, nullptr));
    }
    return Status::OK();
  };
  std::shared_ptr<const Node> na, nb;
  RETURN_IF_ERROR(children(a, &na));
  RETURN_IF_ERROR(children(b, &nb));
  auto child = [&](const DiffPos& x, const std::shared_ptr<const Node>& n, int i) -> DiffPos {
    if (n) return {n->e[i], level - 1};
    if (x.real_level < level && i == 0) return x;  // the shorter tree sits in entry 0
    return {BlockPtr{kHoleAddr, 0}, level - 1};
  };
  uint64_t cspan = ChildSpan(level);
  uint64_t first = std::max(lo, base), last = std::min(hi, base + span);
  int i0 = static_cast<int>((first - base) / cspan), i1 = static_cast<int>((last - 1 - base) / cspan);
  for (int i = i0; i <= i1; ++i) {
    DiffPos ca = child(a, na, i), cb = child(b, nb, i);
    uint64_t cbase = base + uint64_t(i) * cspan;
    if (level == 0) {
      if (!SameContent(ca.p, cb.p)) fn(cbase, cb.p);
    } else {
      RETURN_IF_ERROR(DiffWalk(ca, cb, level - 1, cbase, lo, hi, fn, nodes));
    }
  }
  return Status::OK();
}

StatusOr<DiffResult> PoolImpl::Diff(VolumeId from, VolumeId to) {
  ASSIGN_OR_RETURN(auto sa, FindForRead(from));
  ASSIGN_OR_RETURN(auto sb, FindForRead(to));
  DiffResult r;
  const uint64_t C = sb_.cluster_size;
  auto add = [&](uint64_t cluster, const BlockPtr& p) {
    ExtentType t = IsReal(p.addr) ? ExtentType::kData : ExtentType::kZero;
    uint64_t off = cluster * C;
    AppendExtent(&r.changed, off, std::min(C, r.to_size - off), t);
  };
  for (uint64_t lo = 0;; lo += kStretchClusters) {
    // Both read locks, in id order (as the freeze takes them).
    std::shared_lock<SharedMutex> l1(from <= to ? sa->mu : sb->mu);
    std::shared_lock<SharedMutex> l2;
    if (from != to) l2 = std::shared_lock<SharedMutex>(from <= to ? sb->mu : sa->mu);
    const VolumeRecord &va = sa->rec, &vb = sb->rec;
    r.from_size = va.size;
    r.to_size = vb.size;
    uint64_t clusters = (vb.size + C - 1) / C;
    if (lo >= clusters) break;
    int height = static_cast<int>(std::max(va.height, vb.height));
    DiffPos a{va.root, static_cast<int>(va.height) - 1}, b{vb.root, static_cast<int>(vb.height) - 1};
    RETURN_IF_ERROR(
        DiffWalk(a, b, height - 1, 0, lo, std::min(clusters, lo + kStretchClusters), add, &r.nodes_visited));
  }
  return r;
}

}  // namespace vmstore::internal
